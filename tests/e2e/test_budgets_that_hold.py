"""Budgets that hold across gunicorn workers: N concurrent calls against a budget that admits K
-> at most K succeed and spend stays within the budget plus one call's estimate; a worker killed
mid-call has its reservation released within the hold's lifetime; a finished call's usage is
stored before its reply is complete."""
from __future__ import annotations

import concurrent.futures
import os
import signal
import time
import uuid

import pymongo
import pytest
import requests
from bson import ObjectId

from tests.support.fixtures import MOCK_DEFAULT_MODEL
from tests.support.gunicorn import start_gunicorn
from tests.support.mock_provider import INPUT_COST, OUTPUT_COST
from tests.support.processes import stop

pytestmark = pytest.mark.slow

MAX_TOKENS = 1000
# an upper bound of one call's reserved worst case: its short prompt and MAX_TOKENS of output
ESTIMATE = 40 * INPUT_COST + MAX_TOKENS * OUTPUT_COST
ADMITS = 3
BUDGET = ADMITS * ESTIMATE + 0.1 * MAX_TOKENS * OUTPUT_COST  # room for 3 holds, not for 4
HOLD_TTL_S = 4


@pytest.fixture(scope="module")
def server(tmp_path_factory, mongo_uri, mock_provider_server):
    from tests.support.fixtures import mock_catalogue_path

    tmp = tmp_path_factory.mktemp("budgets")
    database = f"test_{uuid.uuid4().hex[:12]}"
    gunicorn = start_gunicorn(tmp, {
        "MONGODB_URI": mongo_uri, "MONGODB_DATABASE": database, "BCRYPT_ROUNDS": "4",
        "MODELS_CONFIG": str(mock_catalogue_path()), "DEFAULT_MODEL": MOCK_DEFAULT_MODEL,
        "RATELIMIT_DEFAULT": "10000 per minute", "RATELIMIT_LLM": "10000 per minute",
        "BUDGET_HOLD_TTL_S": str(HOLD_TTL_S), "GUNICORN_THREADS": "50"})
    gunicorn.database = pymongo.MongoClient(mongo_uri)[database]
    yield gunicorn
    stop(gunicorn.process)
    gunicorn.database.client.drop_database(database)


def new_workspace(server, budget: float) -> tuple[dict, str, str]:
    """A new user's team workspace with `budget`, and an API key of it."""
    body = requests.post(f"{server.base}/api/v1/auth/register", timeout=10, json={
        "email": f"b-{uuid.uuid4().hex[:10]}@example.com", "password": "correct-horse-1",
        "name": "Budget"}).json()
    headers = {"Authorization": f"Bearer {body['access_token']}"}
    workspace = requests.post(f"{server.base}/api/v1/workspaces", headers=headers, timeout=10,
                              json={"name": "Team", "settings": {"monthly_budget_usd": budget}}
                              ).json()["id"]
    key = requests.post(f"{server.base}/api/v1/workspaces/{workspace}/api-keys", headers=headers,
                        json={"name": "load"}, timeout=10).json()["key"]
    return headers, workspace, key


def complete(server, key: str, **extra) -> requests.Response:
    return requests.post(f"{server.base}/v1/chat/completions", timeout=30,
                         headers={"Authorization": f"Bearer {key}"},
                         json={"model": MOCK_DEFAULT_MODEL, "max_tokens": MAX_TOKENS,
                               "messages": [{"role": "user", "content": "hi"}], **extra})


def budgets(server, headers, workspace) -> dict:
    listed = requests.get(f"{server.base}/api/v1/budgets", params={"workspace_id": workspace},
                          headers=headers, timeout=10)
    assert listed.status_code == 200, listed.text
    return {entry["scope"]: entry for entry in listed.json()}


def test_concurrent_calls_across_workers_never_pass_the_budget(server, mock_provider):
    mock_provider.behave(None, hang=1.5)  # every call is in flight at once
    headers, workspace, key = new_workspace(server, BUDGET)

    with concurrent.futures.ThreadPoolExecutor(12) as pool:
        statuses = sorted(r.status_code for r in pool.map(lambda _: complete(server, key), range(12)))

    assert statuses.count(200) <= ADMITS and set(statuses) <= {200, 402}
    assert statuses.count(200) >= 1
    spend = budgets(server, headers, workspace)["workspace"]
    assert spend["reserved_usd"] == 0 and spend["spent_usd"] <= BUDGET + ESTIMATE
    usage = list(server.database.usage.find({"workspace_id": ObjectId(workspace), "status": "success"}))
    assert len(usage) == statuses.count(200)  # stored before each reply was complete


def test_a_worker_killed_mid_call_has_its_reservation_released(server, mock_provider):
    mock_provider.behave(None, hang=20)
    headers, workspace, key = new_workspace(server, BUDGET)
    pool = concurrent.futures.ThreadPoolExecutor(1)
    pending = pool.submit(complete, server, key)
    deadline = time.monotonic() + 10
    while budgets(server, headers, workspace)["workspace"]["reserved_usd"] == 0:
        assert time.monotonic() < deadline, "the call never reserved"
        time.sleep(0.05)

    for pid in server.worker_pids():  # whichever holds the call: both, to be sure
        os.kill(pid, signal.SIGKILL)
    with pytest.raises(requests.RequestException):
        pending.result()
    pool.shutdown()
    mock_provider.reset()

    deadline = time.monotonic() + HOLD_TTL_S + 10  # the hold expires, a sweep releases it
    while True:
        try:
            if budgets(server, headers, workspace)["workspace"]["reserved_usd"] == 0:
                break
        except requests.RequestException:  # new workers are still starting
            pass
        assert time.monotonic() < deadline, "the dead call's reservation was never released"
        time.sleep(0.5)
    assert complete(server, key).status_code == 200  # the room is back
