"""GET /api/v1/analytics/usage: grouping, totals and who may see which workspace's usage."""
from __future__ import annotations

from datetime import UTC, datetime

import pytest

from entities.llm import UsageRecord
from tests.support.gateway import new_member
from tests.support.identity import set_global_role

DAY1 = datetime(2026, 3, 1, 10, 0, tzinfo=UTC)
DAY2 = datetime(2026, 3, 2, 23, 30, tzinfo=UTC)
RANGE = "from=2026-03-01&to=2026-03-31"


@pytest.fixture
def owner(api):
    return api.register()


@pytest.fixture
def workspace(api, owner):
    return api.personal_workspace(owner)


def record(app, workspace_id, user_id, model="openai/a", status="success", at=DAY1,
           prompt=10, completion=5, cost=0.01, latency=100.0):
    app.extensions["synapscale"].usage.record(UsageRecord(
        workspace_id=workspace_id, user_id=user_id, model=model, provider="openai",
        status=status, source="openai", prompt_tokens=prompt, completion_tokens=completion,
        cost_usd=cost, latency_ms=latency, error="upstream_error" if status == "error" else None,
        created_at=at))


def flush(app):
    assert app.extensions["synapscale"].usage.flush()


def usage(api, session, query):
    return api.request("get", f"/api/v1/analytics/usage?{query}", session)


def login_as(api, db, role):
    user = api.register()
    set_global_role(db, user.id, role)
    return api.login(user.user["email"], "correct-horse-1")


def test_usage_is_grouped_by_day_model_and_user_with_totals(app, api, owner, workspace):
    colleague = new_member(api, owner, workspace, "member")
    record(app, workspace, owner.id, "openai/a", at=DAY1, latency=100)
    record(app, workspace, owner.id, "openai/b", at=DAY1, latency=300, cost=0.03)
    record(app, workspace, colleague.id, "openai/a", "error", at=DAY2, prompt=0, completion=0,
           cost=0, latency=50)
    flush(app)

    by_day = usage(api, owner, f"workspace_id={workspace}&{RANGE}&group_by=day").get_json()
    assert [(i["key"], i["requests"], i["errors"]) for i in by_day["items"]] == [
        ("2026-03-01", 2, 0), ("2026-03-02", 1, 1)]
    assert by_day["items"][0]["avg_latency_ms"] == 200.0
    assert by_day["totals"] == {"requests": 3, "prompt_tokens": 20, "completion_tokens": 10,
                                "cost_usd": pytest.approx(0.04), "avg_latency_ms": 150.0,
                                "errors": 1}

    by_model = usage(api, owner, f"workspace_id={workspace}&{RANGE}&group_by=model").get_json()
    assert [(i["key"], i["requests"]) for i in by_model["items"]] == [("openai/b", 1),
                                                                      ("openai/a", 2)]
    by_user = usage(api, owner, f"workspace_id={workspace}&{RANGE}&group_by=user").get_json()
    assert {i["key"]: i["requests"] for i in by_user["items"]} == {owner.id: 2, colleague.id: 1}
    assert by_user["group_by"] == "user" and by_user["workspace_id"] == workspace


def test_the_range_bounds_what_is_counted(app, api, owner, workspace):
    record(app, workspace, owner.id, at=DAY1)
    record(app, workspace, owner.id, at=DAY2)
    flush(app)
    body = usage(api, owner, f"workspace_id={workspace}&from=2026-03-02&to=2026-03-02").get_json()
    assert [i["key"] for i in body["items"]] == ["2026-03-02"]
    body = usage(api, owner, f"workspace_id={workspace}&from=2026-03-01T00:00:00Z"
                             "&to=2026-03-02T00:00:00Z").get_json()
    assert body["totals"]["requests"] == 1


def test_without_a_workspace_a_user_sees_their_personal_workspace(app, api, owner, workspace):
    other = api.register()
    record(app, workspace, owner.id)
    record(app, api.personal_workspace(other), other.id)
    flush(app)
    body = usage(api, owner, RANGE).get_json()
    assert body["workspace_id"] == workspace and body["totals"]["requests"] == 1


def test_workspace_admins_see_usage_members_and_viewers_are_forbidden_strangers_not_found(
        api, owner, workspace):
    query = f"workspace_id={workspace}&{RANGE}"
    assert usage(api, owner, query).status_code == 200
    assert usage(api, new_member(api, owner, workspace, "admin"), query).status_code == 200
    assert usage(api, new_member(api, owner, workspace, "member"), query).status_code == 403
    assert usage(api, new_member(api, owner, workspace, "viewer"), query).status_code == 403
    assert usage(api, api.register(), query).status_code == 404
    assert usage(api, owner, f"workspace_id=ffffffffffffffffffffffff&{RANGE}").status_code == 404


@pytest.mark.parametrize("role", ["analyst", "admin"])
def test_global_analysts_and_admins_see_any_workspace_and_all_of_them(app, api, db, owner,
                                                                     workspace, role):
    other = api.register()
    other_workspace = api.personal_workspace(other)
    record(app, workspace, owner.id, cost=0.01)
    record(app, other_workspace, other.id, cost=0.02)
    flush(app)
    viewer = login_as(api, db, role)
    everything = usage(api, viewer, f"{RANGE}&group_by=user").get_json()
    assert everything["workspace_id"] is None
    assert {i["key"] for i in everything["items"]} == {owner.id, other.id}
    one = usage(api, viewer, f"workspace_id={other_workspace}&{RANGE}").get_json()
    assert one["totals"]["requests"] == 1 and one["totals"]["cost_usd"] == pytest.approx(0.02)
    assert usage(api, viewer, f"workspace_id=ffffffffffffffffffffffff&{RANGE}").status_code == 404


def test_bad_queries_are_validation_errors(api, owner):
    for query in ("group_by=week", "from=yesterday", "from=2026-03-05&to=2026-03-01",
                  "from=2020-01-01&to=2026-01-01"):
        response = usage(api, owner, query)
        assert response.status_code == 422, query
