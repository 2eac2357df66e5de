"""The official `openai` SDK against SynapScale served by gunicorn (two workers), with the mock
provider behind: plain and streamed completions, the usage then visible in analytics, a revoked
key refused, /metrics adding up every worker's counts, and a Responses API conversation carried
on across workers."""
from __future__ import annotations

import time
import uuid

import openai
import pymongo
import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families

from tests.support.fixtures import MOCK_DEFAULT_MODEL
from tests.support.gunicorn import new_request_id, start_gunicorn
from tests.support.mock_provider import PRIMARY
from tests.support.processes import stop

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def server(tmp_path_factory, mongo_uri, mock_provider_server):
    from tests.support.fixtures import mock_catalogue_path

    tmp = tmp_path_factory.mktemp("sdk")
    database = f"test_{uuid.uuid4().hex[:12]}"
    gunicorn = start_gunicorn(tmp, {
        "MONGODB_URI": mongo_uri, "MONGODB_DATABASE": database, "BCRYPT_ROUNDS": "4",
        "MODELS_CONFIG": str(mock_catalogue_path()), "DEFAULT_MODEL": MOCK_DEFAULT_MODEL,
        "RATELIMIT_DEFAULT": "10000 per minute", "RATELIMIT_LLM": "10000 per minute",
        "PROMETHEUS_MULTIPROC_DIR": str(tmp / "metrics")})
    gunicorn.metrics_dir = tmp / "metrics"
    yield gunicorn
    stop(gunicorn.process)
    pymongo.MongoClient(mongo_uri).drop_database(database)


@pytest.fixture(scope="module")
def account(server):
    response = requests.post(f"{server.base}/api/v1/auth/register", timeout=10, json={
        "email": f"sdk-{uuid.uuid4().hex[:10]}@example.com", "password": "correct-horse-1",
        "name": "SDK"})
    assert response.status_code == 201, response.text
    body = response.json()
    headers = {"Authorization": f"Bearer {body['access_token']}"}
    workspace = requests.get(f"{server.base}/api/v1/workspaces", headers=headers,
                             timeout=10).json()["items"][0]["id"]
    return headers, workspace


def new_key(server, account) -> dict:
    headers, workspace = account
    response = requests.post(f"{server.base}/api/v1/workspaces/{workspace}/api-keys",
                             headers=headers, json={"name": "sdk"}, timeout=10)
    assert response.status_code == 201, response.text
    return response.json()


def sdk(server, secret: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{server.base}/v1", api_key=secret, max_retries=0, timeout=30)


def scrape(server) -> dict[tuple, float]:
    response = requests.get(f"{server.base}/metrics", timeout=10)
    assert response.status_code == 200
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(response.text) for s in family.samples}


def openai_successes(metrics: dict) -> float:
    return sum(value for (name, labels), value in metrics.items()
               if name == "synapscale_llm_requests_total"
               and ("source", "openai") in labels and ("status", "success") in labels)


def test_the_openai_sdk_gets_plain_and_streamed_completions_then_analytics_show_them(
        server, account, mock_provider):
    key = new_key(server, account)
    client = sdk(server, key["key"])

    reply = client.chat.completions.create(
        model=MOCK_DEFAULT_MODEL, messages=[{"role": "user", "content": "plain please"}],
        temperature=0.1, max_tokens=50)
    assert reply.choices[0].message.content == "Echo: plain please"
    assert reply.usage.total_tokens > 0 and reply.model == MOCK_DEFAULT_MODEL

    stream = client.chat.completions.create(
        model=MOCK_DEFAULT_MODEL, messages=[{"role": "user", "content": "stream please"}],
        stream=True, stream_options={"include_usage": True})
    chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "Echo: stream please"
    assert chunks[-1].usage is not None and chunks[-1].usage.completion_tokens == 3

    assert [m.id for m in client.models.list()][:1] == [MOCK_DEFAULT_MODEL]

    headers, workspace = account
    deadline = time.monotonic() + 10
    while True:  # usage reaches the database in batches, within about a second
        report = requests.get(f"{server.base}/api/v1/analytics/usage", headers=headers,
                              params={"workspace_id": workspace, "group_by": "model"},
                              timeout=10).json()
        if report["totals"]["requests"] >= 2 or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert [(i["key"], i["requests"], i["errors"]) for i in report["items"]] == [
        (MOCK_DEFAULT_MODEL, 2, 0)]
    assert report["totals"]["cost_usd"] > 0


def test_a_revoked_key_is_an_authentication_error_for_the_sdk(server, account, mock_provider):
    headers, workspace = account
    key = new_key(server, account)
    client = sdk(server, key["key"])
    client.chat.completions.create(model=MOCK_DEFAULT_MODEL,
                                   messages=[{"role": "user", "content": "hi"}])
    revoked = requests.delete(f"{server.base}/api/v1/workspaces/{workspace}/api-keys/{key['id']}",
                              headers=headers, timeout=10)
    assert revoked.status_code == 204
    deadline = time.monotonic() + 10  # immediate on the worker that revoked, seconds elsewhere
    while True:
        try:
            client.chat.completions.create(model=MOCK_DEFAULT_MODEL,
                                           messages=[{"role": "user", "content": "hi"}])
        except openai.AuthenticationError as error:
            assert error.code == "token_revoked"
            break
        assert time.monotonic() < deadline, "the revoked key kept working"
        time.sleep(0.5)


def test_metrics_add_up_the_calls_every_worker_served(server, account, mock_provider):
    key = new_key(server, account)
    before = openai_successes(scrape(server))
    served_by = set()
    for _ in range(12):  # a new connection each time, so both workers get some
        request_id = new_request_id()
        response = requests.post(f"{server.base}/v1/chat/completions", timeout=30, json={
            "model": MOCK_DEFAULT_MODEL, "messages": [{"role": "user", "content": "count me"}]},
            headers={"Authorization": f"Bearer {key['key']}", "X-Request-ID": request_id,
                     "Connection": "close"})
        assert response.status_code == 200, response.text
        time.sleep(0.05)
        served_by.add(server.served_by(request_id))
    assert len(served_by - {None}) == 2, "one worker served everything; nothing was summed"
    for _ in range(6):  # whichever worker answers the scrape reports the same total
        assert openai_successes(scrape(server)) - before == 12


def test_a_response_is_continued_and_retrieved_on_the_other_worker(server, account,
                                                                  mock_provider):
    """responses.create on one worker; the follow-up (previous_response_id), streamed, and
    responses.retrieve on the other: the conversation lives in MongoDB, not in a worker."""
    secret = new_key(server, account)["key"]
    first_worker, second_worker = sorted(server.worker_pids())

    def on(worker: int, call):
        request_id = new_request_id()
        with server.accepting_only(worker):
            with sdk(server, secret) as client:  # a new connection, opened while only `worker` accepts
                result = call(client, {"X-Request-ID": request_id})
        deadline = time.monotonic() + 5  # the access log line may follow the response
        while (served := server.served_by(request_id)) is None and time.monotonic() < deadline:
            time.sleep(0.05)
        assert served == worker
        return result

    first = on(first_worker, lambda client, headers: client.responses.create(
        model=MOCK_DEFAULT_MODEL, input="remember 42", instructions="Be brief.",
        extra_headers=headers))
    assert first.output_text == "Echo: remember 42"

    def follow_up(client, headers):
        with client.responses.create(input="what did I say?", previous_response_id=first.id,
                                     stream=True, extra_headers=headers) as stream:
            return list(stream)

    events = on(second_worker, follow_up)
    completed = events[-1].response
    assert events[-1].type == "response.completed"
    assert completed.output_text == "Echo: what did I say?"
    assert completed.previous_response_id == first.id
    assert mock_provider.calls(PRIMARY)[-1]["messages"] == [
        {"role": "user", "content": "remember 42"},
        {"role": "assistant", "content": "Echo: remember 42"},
        {"role": "user", "content": "what did I say?"}]

    retrieved = on(first_worker, lambda client, headers: client.responses.retrieve(
        completed.id, extra_headers=headers))
    assert retrieved.output_text == completed.output_text and retrieved.id == completed.id
