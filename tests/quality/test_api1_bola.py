"""OWASP API1:2023 Broken Object Level Authorization.

Another tenant's resources answer 404, never 403 and never their data, on every route of every
resource type (tests/quality/world.py RESOURCE_ROUTES), and nothing changes. Inside a shared
workspace a talk stays private to its author: the workspace's owner and admins get 404 too.
"""
from __future__ import annotations

import pytest

from tests.quality.sockets import close_code, connect
from tests.quality.world import QUALITY_SETTINGS, RESOURCE_ROUTES, call, seed_world
from tests.support.api import ApiClient
from tests.support.identity import add_member, shared_app
from tests.support.streams import served

app = shared_app(**QUALITY_SETTINGS)
TALK_ROUTES = [route for route in RESOURCE_ROUTES if route.resource.startswith(("talk", "messag"))]


@pytest.fixture(scope="module")
def api(app):
    return ApiClient(app.test_client())


@pytest.fixture(scope="module")
def victim(api):
    session = api.register(name="Victim")
    return session, seed_world(api, session)


@pytest.fixture(scope="module")
def intruder(api):
    session = api.register(name="Intruder")
    seed_world(api, session)  # an intruder with resources of their own, ids of the same shapes
    return session


@pytest.mark.parametrize("route", RESOURCE_ROUTES, ids=str)
def test_another_tenants_resource_is_not_found(api, victim, intruder, route):
    _, world = victim
    response = call(api, intruder, route, world)
    assert response.status_code == 404, response.get_json()
    assert response.get_json()["error"]["code"] == "not_found"


def test_the_intruders_attempts_changed_nothing(api, victim, intruder):
    for route in RESOURCE_ROUTES:  # every write attempted again, in case this test runs alone
        call(api, intruder, route, victim[1])
    session, world = victim
    talk = api.request("GET", f"/api/v1/talks/{world['talk_id']}", session).get_json()
    assert talk["name"] == "Plans"
    messages = api.request("GET", f"/api/v1/talks/{world['talk_id']}/messages", session)
    assert [m["role"] for m in messages.get_json()["items"]] == ["user", "assistant"]
    file = api.request("GET", f"/api/v1/files/{world['file_id']}", session).get_json()
    assert file["description"] in ("", None)
    workspace = api.request("GET", f"/api/v1/workspaces/{world['workspace_id']}", session)
    assert workspace.get_json()["name"] != "stolen"
    keys = api.request("GET", f"/api/v1/workspaces/{world['workspace_id']}/api-keys", session)
    assert [key["name"] for key in keys.get_json()] == ["ci"]
    providers = api.request("GET", f"/api/v1/workspaces/{world['workspace_id']}/providers",
                            session).get_json()
    assert next(p for p in providers if p["configured"])["key_hint"].endswith("cdef")
    workflow = api.request("GET", f"/api/v1/workflows/{world['workflow_id']}", session).get_json()
    assert workflow["name"] == "Greeting"


def test_another_tenants_api_key_cannot_reach_this_workspace(api, victim, intruder):
    _, world = victim
    own_workspace = api.personal_workspace(intruder)
    intruder_key = api.request("POST", f"/api/v1/workspaces/{own_workspace}/api-keys", intruder,
                               json={"name": "mine"}).get_json()["key"]
    response = api.client.post("/v1/chat/completions", headers={
        "Authorization": f"Bearer {intruder_key}", "X-Workspace-ID": world["workspace_id"]},
        json={"model": "openai/mock-primary", "messages": [{"role": "user", "content": "hi"}]})
    assert response.status_code in (200, 404)  # a key always works in its own workspace only
    if response.status_code == 200:
        usage = api.request("GET", f"/api/v1/analytics/usage?workspace_id={world['workspace_id']}"
                            "&group_by=user", victim[0]).get_json()
        assert intruder.id not in [item["key"] for item in usage["items"]]


def test_another_tenants_workspace_is_not_found_through_the_openai_face(api, victim, intruder):
    _, world = victim
    response = api.client.post("/v1/chat/completions", headers={
        **intruder.headers, "X-Workspace-ID": world["workspace_id"]},
        json={"model": "openai/mock-primary", "messages": [{"role": "user", "content": "hi"}]})
    assert response.status_code == 404


def test_another_tenants_file_cannot_be_attached_to_a_message(api, victim, intruder):
    _, world = victim
    own_talk = api.request("POST", "/api/v1/talks", intruder, json={}).get_json()
    response = api.request("POST", f"/api/v1/talks/{own_talk['id']}/messages", intruder,
                           json={"content": "read it", "file_ids": [world["file_id"]]})
    assert response.status_code == 404


def test_another_tenants_file_cannot_feed_a_workflow(api, victim, intruder):
    _, world = victim
    body = {"name": "steal", "nodes": [
        {"id": "read", "type": "file_text", "config": {"file_id": world["file_id"]}},
        {"id": "done", "type": "output", "config": {}}],
        "edges": [{"source": "read", "target": "done"}]}
    created = api.request("POST", "/api/v1/workflows", intruder, json=body)
    if created.status_code == 201:
        run = api.request("POST", f"/api/v1/workflows/{created.get_json()['id']}/execute",
                          intruder, json={"inputs": {}, "wait": True}).get_json()
        assert run["status"] == "failed"
        assert "secret plans" not in str(run)
    else:
        assert created.status_code in (404, 422)


def test_another_tenants_talk_and_execution_sockets_close_with_4404(app, api, victim, intruder):
    _, world = victim
    with served(app) as url:
        base = url.replace("http://", "ws://")
        for path in (f"/api/v1/ws/talks/{world['talk_id']}",
                     f"/api/v1/ws/executions/{world['execution_id']}"):
            ws = connect(base, path, intruder.access_token)
            try:
                assert close_code(ws) == 4404, path
            finally:
                ws.close()


@pytest.fixture(scope="module")
def team(api):
    """A shared workspace: its owner, an admin, and a member who writes a private talk there."""
    owner, admin, member = (api.register(name=n) for n in ("Owner", "Admin", "Member"))
    workspace = api.request("POST", "/api/v1/workspaces", owner, json={"name": "Team"}).get_json()
    add_member(api, owner, workspace["id"], admin, "admin")
    add_member(api, owner, workspace["id"], member, "member")
    talk = api.request("POST", "/api/v1/talks", member, json={
        "workspace_id": workspace["id"], "name": "Salary negotiation"}).get_json()
    exchange = api.request("POST", f"/api/v1/talks/{talk['id']}/messages", member,
                           json={"content": "my private thoughts"}).get_json()
    world = {"workspace_id": workspace["id"], "talk_id": talk["id"],
             "message_id": exchange["assistant_message"]["id"],
             "user_message_id": exchange["user_message"]["id"]}
    return {"owner": owner, "admin": admin, "member": member, "world": world}


@pytest.mark.parametrize("role", ["owner", "admin"])
@pytest.mark.parametrize("route", TALK_ROUTES, ids=str)
def test_a_members_talk_is_not_found_even_for_the_workspace_owner_and_admins(api, team, role,
                                                                             route):
    response = call(api, team[role], route, team["world"])
    assert response.status_code == 404, response.get_json()


@pytest.mark.parametrize("role", ["owner", "admin"])
def test_a_members_talk_is_not_listed_or_found_by_search_for_the_workspace_admins(api, team,
                                                                                  role):
    workspace_id = team["world"]["workspace_id"]
    listed = api.request("GET", f"/api/v1/talks?workspace_id={workspace_id}", team[role])
    assert listed.status_code == 200
    assert team["world"]["talk_id"] not in [t["id"] for t in listed.get_json()["items"]]
    for query in ("Salary", "private"):
        found = api.request("GET", f"/api/v1/search?q={query}&workspace_id={workspace_id}",
                            team[role])
        assert found.status_code == 200 and found.get_json()["items"] == []
    chatai = api.request("GET", "/api/talk-user", team[role]).get_json()
    assert team["world"]["talk_id"] not in [t["id"] for t in chatai]


def test_the_member_still_has_the_private_talk(api, team):
    talk = api.request("GET", f"/api/v1/talks/{team['world']['talk_id']}", team["member"])
    assert talk.status_code == 200 and talk.get_json()["name"] == "Salary negotiation"
