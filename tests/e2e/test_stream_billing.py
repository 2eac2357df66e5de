"""Every token the provider produced is billed: streams the client abandons, replies cut at the
size cap, replies that fail midway — on the OpenAI-compatible route, the direct LLM route and
talks alike."""
from __future__ import annotations

import time

import pytest
import requests
from bson import ObjectId

from tests.support.fixtures import MOCK_DEFAULT_MODEL
from tests.support.gateway import bearer, create_key
from tests.support.mock_provider import INPUT_COST, OUTPUT_COST
from tests.support.streams import iter_sse, served

LONG_REPLY = " ".join(f"word{n}" for n in range(400))
MAX_REPLY = 300  # characters


@pytest.fixture
def settings_overrides():
    return {"llm_max_reply_chars": MAX_REPLY}


@pytest.fixture
def owner(api):
    return api.register()


@pytest.fixture
def workspace(api, owner):
    return api.personal_workspace(owner)


def usage_records(app, workspace_id: str, timeout_s: float = 5.0) -> list[dict]:
    """The workspace's usage records once the recorder has written one."""
    deadline = time.monotonic() + timeout_s
    container = app.extensions["synapscale"]
    while time.monotonic() < deadline:
        container.usage.flush()
        records = list(container.db.usage.find({"workspace_id": ObjectId(workspace_id)}))
        if records:
            return records
        time.sleep(0.05)
    raise AssertionError("no usage recorded")


def assert_billed_for_what_was_read(record: dict, read_chars: int) -> None:
    assert record["prompt_tokens"] > 0 and record["completion_tokens"] > 0
    expected = record["prompt_tokens"] * INPUT_COST + record["completion_tokens"] * OUTPUT_COST
    assert record["cost_usd"] == pytest.approx(expected)
    assert record["completion_tokens"] <= read_chars  # what was produced, not the whole reply


@pytest.mark.parametrize("path, body", [
    ("/v1/chat/completions", {"model": MOCK_DEFAULT_MODEL, "stream": True,
                              "messages": [{"role": "user", "content": "tell me everything"}]}),
    ("/api/v1/llm/chat", {"model": MOCK_DEFAULT_MODEL, "stream": True,
                          "messages": [{"role": "user", "content": "tell me everything"}]}),
])
def test_a_stream_the_client_abandons_is_billed_for_what_was_produced(
        app, api, owner, workspace, mock_provider, path, body):
    mock_provider.behave(None, reply=LONG_REPLY, token_delay=0.01)
    key = create_key(api, owner, workspace)
    headers = bearer(key["key"]) if path.startswith("/v1") else owner.headers
    with served(app) as base:
        response = requests.post(f"{base}{path}", json=body, headers=headers, stream=True, timeout=30)
        read = 0
        for line in response.iter_lines(decode_unicode=True):
            read += len(line)
            if read > 200:
                break
        response.close()

        [record] = usage_records(app, workspace)

    assert record["status"] == "error" and record["error"] == "cancelled"
    assert_billed_for_what_was_read(record, len(LONG_REPLY))


@pytest.mark.parametrize("stream", [False, True])
def test_a_reply_cut_at_the_size_cap_is_billed(app, api, owner, workspace, mock_provider, stream):
    mock_provider.behave(None, reply=LONG_REPLY)
    key = create_key(api, owner, workspace)

    response = api.client.post("/v1/chat/completions", headers=bearer(key["key"]), json={
        "model": MOCK_DEFAULT_MODEL, "stream": stream,
        "messages": [{"role": "user", "content": "tell me everything"}]})
    response.get_data()

    [record] = usage_records(app, workspace)
    assert record["status"] == "error"
    if stream:  # the text up to the cap was read from the provider
        assert_billed_for_what_was_read(record, MAX_REPLY)
    else:  # the provider reported the whole reply's usage
        assert record["completion_tokens"] > 0 and record["cost_usd"] > 0


def test_a_talk_reply_cut_at_the_size_cap_is_billed(app, api, owner, workspace, mock_provider):
    mock_provider.behave(None, reply=LONG_REPLY)
    talk = api.request("post", "/api/v1/talks", owner, json={"model": MOCK_DEFAULT_MODEL}).get_json()

    response = api.request("post", f"/api/v1/talks/{talk['id']}/messages", owner,
                           json={"content": "tell me everything", "stream": True})
    events = list(iter_sse(response.get_data(as_text=True).splitlines()))

    assert events[-1][0] == "error"
    [record] = usage_records(app, workspace)
    assert record["status"] == "error"
    assert_billed_for_what_was_read(record, MAX_REPLY)
