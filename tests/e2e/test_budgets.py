"""Budgets on every path that reaches a model: once a workspace's or an API key's monthly
budget is spent, each path answers 402 `budget_exceeded` and the provider is not called."""
from __future__ import annotations

import time

import pytest

from entities.budget import month_of
from entities.clock import utcnow
from tests.support.fixtures import MOCK_DEFAULT_MODEL
from tests.support.gateway import ask, assert_openai_error, bearer, completion, create_key, new_member
from tests.support.mock_provider import PRIMARY
from tests.support.workflows import create_workflow, execute, llm_workflow

# Room for one small call (max_tokens 5: reserved ~2e-5, costs ~1.1e-5), never for a call that may
# write 4,096 tokens (reserved ~8e-3): budgets hold the worst case of each call.
TINY_BUDGET = 0.00005


@pytest.fixture
def owner(api):
    return api.register()


@pytest.fixture
def workspace(api, owner):
    return api.personal_workspace(owner)


@pytest.fixture
def talk(api, owner):
    response = api.request("post", "/api/v1/talks", owner, json={"model": MOCK_DEFAULT_MODEL})
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def set_workspace_budget(api, owner, workspace_id, budget):
    response = api.request("patch", f"/api/v1/workspaces/{workspace_id}", owner,
                           json={"settings": {"monthly_budget_usd": budget}})
    assert response.status_code == 200, response.get_json()


def spend(app, client, headers):
    """One small answered call, its usage written."""
    assert completion(client, headers, max_tokens=5).status_code == 200
    app.extensions["synapscale"].usage.flush()


def assert_budget_exceeded(response):
    assert response.status_code == 402, response.get_data(as_text=True)
    assert response.get_json()["error"]["code"] == "budget_exceeded"


def test_every_model_path_answers_402_once_the_workspace_budget_is_spent(
        app, api, client, owner, workspace, talk, mock_provider):
    set_workspace_budget(api, owner, workspace, TINY_BUDGET)
    key = create_key(api, owner, workspace)
    workflow = create_workflow(api, owner, llm_workflow())
    spend(app, client, bearer(key["key"]))
    calls_before = len(mock_provider.calls(PRIMARY))

    assert_openai_error(completion(client, bearer(key["key"])), 402, "budget_exceeded")
    assert_openai_error(completion(client, bearer(key["key"]), stream=True), 402,
                        "budget_exceeded")
    assert_openai_error(completion(client, owner.headers), 402, "budget_exceeded")
    assert_budget_exceeded(api.request("post", "/api/v1/llm/chat", owner, json={
        "messages": [{"role": "user", "content": "hi"}]}))
    assert_budget_exceeded(api.request("post", "/api/v1/llm/chat", owner, json={
        "messages": [{"role": "user", "content": "hi"}], "stream": True}))
    assert_budget_exceeded(api.request("post", f"/api/v1/talks/{talk['id']}/messages", owner,
                                       json={"content": "hi"}))
    assert_budget_exceeded(api.request("post", f"/api/v1/talks/{talk['id']}/messages", owner,
                                       json={"content": "hi", "stream": True}))
    assert_budget_exceeded(api.request("post", "/api/message", owner,
                                       json={"talk_id": talk["id"], "content": "hi"}))
    execution = execute(api, owner, workflow["id"], {"question": "hi"}).get_json()
    assert execution["status"] == "failed", execution
    ask_run = next(run for run in execution["node_runs"] if run["node_id"] == "ask")
    assert "budget" in ask_run["error"].lower() and ask_run["attempts"] == 1

    assert len(mock_provider.calls(PRIMARY)) == calls_before


def test_an_api_key_budget_stops_that_key_only(app, api, client, owner, workspace,
                                               mock_provider):
    capped = create_key(api, owner, workspace, monthly_budget_usd=TINY_BUDGET)
    free = create_key(api, owner, workspace)
    spend(app, client, bearer(capped["key"]))
    calls_before = len(mock_provider.calls(PRIMARY))
    error = assert_openai_error(completion(client, bearer(capped["key"])), 402, "budget_exceeded")
    assert error["type"] == "insufficient_quota"
    assert len(mock_provider.calls(PRIMARY)) == calls_before
    assert completion(client, bearer(free["key"])).status_code == 200
    assert completion(client, owner.headers).status_code == 200


def test_a_zero_budget_allows_no_call_at_all(api, client, owner, workspace, mock_provider):
    set_workspace_budget(api, owner, workspace, 0)
    assert_openai_error(completion(client, owner.headers), 402, "budget_exceeded")
    assert mock_provider.requests == []


def test_spend_counters_follow_recorded_usage(app, api, db, client, owner, workspace,
                                              mock_provider):
    key = create_key(api, owner, workspace)
    for _ in range(3):
        assert completion(client, bearer(key["key"])).status_code == 200
    app.extensions["synapscale"].usage.flush()
    spent_in_usage = sum(r["cost_usd"] for r in db.usage.find())
    month = month_of(utcnow())
    workspace_counter = db.spend.find_one({"_id": f"workspace:{workspace}:{month}"})
    key_counter = db.spend.find_one({"_id": f"api_key:{key['id']}:{month}"})
    assert workspace_counter["cost_usd"] == pytest.approx(spent_in_usage)
    assert key_counter["cost_usd"] == pytest.approx(spent_in_usage)
    assert workspace_counter["requests"] == key_counter["requests"] == 3


@pytest.mark.parametrize("settings_overrides", [{"budget_cache_ttl_s": 0.3}])
def test_a_raised_budget_is_honoured_within_the_cache_ttl(app, api, client, owner, workspace,
                                                          mock_provider):
    set_workspace_budget(api, owner, workspace, TINY_BUDGET)
    spend(app, client, owner.headers)
    assert_openai_error(completion(client, owner.headers), 402)
    set_workspace_budget(api, owner, workspace, 1.0)
    time.sleep(0.4)
    assert client.post("/v1/chat/completions", json=ask(), headers=owner.headers).status_code == 200


def test_a_member_budget_stops_that_member_only_and_is_listed(app, api, client, owner,
                                                             mock_provider):
    team = api.request("post", "/api/v1/workspaces", owner, json={"name": "Team"}).get_json()["id"]
    member = new_member(api, owner, team, "member")
    changed = api.request("patch", f"/api/v1/workspaces/{team}/members/{member.id}", owner,
                          json={"monthly_budget_usd": 0})
    assert changed.status_code == 200 and changed.get_json()["monthly_budget_usd"] == 0

    as_member = {**member.headers, "X-Workspace-ID": team}
    assert_openai_error(completion(client, as_member), 402, "budget_exceeded")
    assert completion(client, {**owner.headers, "X-Workspace-ID": team}).status_code == 200
    listed = api.request("get", f"/api/v1/budgets?workspace_id={team}", owner).get_json()
    assert {"scope": "member", "id": member.id, "budget_usd": 0.0, "spent_usd": 0.0,
            "reserved_usd": 0.0, "month": month_of(utcnow())} in listed
    assert api.request("get", f"/api/v1/budgets?workspace_id={team}", member).status_code == 403


def test_crossing_an_alert_threshold_tells_the_admins_once(app, api, db, client, owner, workspace,
                                                          mock_provider):
    set_workspace_budget(api, owner, workspace, 0.00002)  # one small call uses over half of it
    spend(app, client, owner.headers)

    alerts = list(db.events.find({"topic": f"user:{owner.id}",
                                  "event.type": "budget.threshold_reached"}))
    assert [alert["event"]["threshold"] for alert in alerts] == [0.5]
    assert db.outbox.count_documents({"to": owner.user["email"], "subject": {"$regex": "budget"}}) == 1
