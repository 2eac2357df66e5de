"""OWASP API5:2023 Broken Function Level Authorization.

Each global role (user, analyst, admin) against each administrative function, and each
workspace role (viewer, member, admin, owner) against each workspace function: below the
function's role -> 403 (the caller can see the workspace), at or above it -> success.
"""
from __future__ import annotations

import io
from dataclasses import dataclass

import pytest

from tests.quality.world import QUALITY_SETTINGS, WEBHOOK_URL
from tests.support.api import ApiClient
from tests.support.identity import add_member, set_global_role, shared_app
from tests.support.workflows import create_workflow, greeting_workflow

app = shared_app(**QUALITY_SETTINGS)
WORKSPACE_ROLES = ["viewer", "member", "admin", "owner"]
GLOBAL_ROLES = ["user", "analyst", "admin"]


@pytest.fixture(scope="module")
def api(app):
    return ApiClient(app.test_client())


def login_as(api, db, role: str):
    session = api.register(password="correct-horse-1")
    set_global_role(db, session.id, role)
    return api.login(session.user["email"], "correct-horse-1")


@pytest.fixture(scope="module")
def people(app, api):
    db = app.extensions["synapscale"].db
    return {role: login_as(api, db, role) for role in GLOBAL_ROLES}


@dataclass(frozen=True)
class Function:
    name: str
    method: str
    path: str
    minimum: str
    body: dict | None = None
    setup: str | None = None

    def __str__(self) -> str:
        return self.name


GLOBAL_FUNCTIONS = [
    Function("list users", "GET", "/api/v1/admin/users", "admin"),
    Function("change a role", "PATCH", "/api/v1/admin/users/{other}", "admin", {"role": "analyst"}),
    Function("deactivate a user", "PATCH", "/api/v1/admin/users/{other}", "admin",
             {"is_active": False}),
    Function("read the audit log", "GET", "/api/v1/admin/audit", "admin"),
    Function("read another workspace's usage", "GET",
             "/api/v1/analytics/usage?workspace_id={workspace}", "analyst"),
]


@pytest.mark.parametrize("function", GLOBAL_FUNCTIONS, ids=str)
@pytest.mark.parametrize("role", GLOBAL_ROLES)
def test_each_global_role_against_each_administrative_function(api, people, function, role):
    other = api.register()
    path = function.path.format(other=other.id, workspace=api.personal_workspace(other))
    response = api.request(function.method, path, people[role], json=function.body)
    allowed = GLOBAL_ROLES.index(role) >= GLOBAL_ROLES.index(function.minimum)
    if allowed:
        assert response.status_code == 200, response.get_json()
    elif "workspace_id" in path:
        assert response.status_code == 404  # not a member: the workspace is invisible
    else:
        assert response.status_code == 403, response.get_json()
        assert response.get_json()["error"]["code"] == "forbidden"


WS = "/api/v1/workspaces/{ws}"
WORKSPACE_FUNCTIONS = [
    Function("read the workspace", "GET", WS, "viewer"),
    Function("list members", "GET", WS + "/members", "viewer"),
    Function("create a talk", "POST", "/api/v1/talks", "member", {"workspace_id": "{ws}"}),
    Function("upload a file", "POST", "/api/v1/files/upload", "member", setup="upload"),
    Function("create a workflow", "POST", "/api/v1/workflows?workspace_id={ws}", "member",
             setup="workflow_body"),
    Function("run a workflow", "POST", "/api/v1/workflows/{workflow}/execute", "member",
             {"inputs": {"name": "x"}, "wait": True}, setup="workflow"),
    Function("rename the workspace", "PATCH", WS, "admin", {"name": "renamed"}),
    Function("set the budget", "PATCH", WS, "admin", {"settings": {"monthly_budget_usd": 5}}),
    Function("add a member", "POST", WS + "/members", "admin",
             {"email": "{newcomer_email}", "role": "viewer"}),
    Function("change a member's role", "PATCH", WS + "/members/{extra}", "admin",
             {"role": "member"}),
    Function("remove a member", "DELETE", WS + "/members/{extra}", "admin"),
    Function("list provider keys", "GET", WS + "/providers", "admin"),
    Function("set a provider key", "PUT", WS + "/providers/openai", "admin",
             {"api_key": "sk-test-0123456789"}),
    Function("delete a provider key", "DELETE", WS + "/providers/openai", "admin",
             setup="provider"),
    Function("list API keys", "GET", WS + "/api-keys", "admin"),
    Function("create an API key", "POST", WS + "/api-keys", "admin", {"name": "k"}),
    Function("revoke an API key", "DELETE", WS + "/api-keys/{key}", "admin", setup="key"),
    Function("list webhooks", "GET", WS + "/webhooks", "admin"),
    Function("create a webhook", "POST", WS + "/webhooks", "admin",
             {"url": WEBHOOK_URL, "events": ["talk.created"]}),
    Function("delete a webhook", "DELETE", WS + "/webhooks/{webhook}", "admin", setup="webhook"),
    Function("read the usage", "GET", "/api/v1/analytics/usage?workspace_id={ws}", "admin"),
    Function("delete the workspace", "DELETE", WS, "owner"),
]


def team_workspace(api, owner, members: dict) -> str:
    workspace = api.request("POST", "/api/v1/workspaces", owner, json={"name": "Team"}).get_json()
    for role, session in members.items():
        add_member(api, owner, workspace["id"], session, role)
    return workspace["id"]


def prepare(api, owner, function: Function, ids: dict) -> None:
    base = f"/api/v1/workspaces/{ids['ws']}"
    if function.setup == "provider":
        api.request("PUT", base + "/providers/openai", owner, json={"api_key": "sk-test-1234567"})
    elif function.setup == "key":
        ids["key"] = api.request("POST", base + "/api-keys", owner,
                                 json={"name": "k"}).get_json()["id"]
    elif function.setup == "webhook":
        ids["webhook"] = api.request("POST", base + "/webhooks", owner, json={
            "url": WEBHOOK_URL, "events": ["talk.created"]}).get_json()["id"]
    elif function.setup == "workflow":
        ids["workflow"] = create_workflow(api, owner, greeting_workflow(), ids["ws"])["id"]


def perform(api, session, function: Function, ids: dict):
    path = function.path.format(**ids)
    if function.setup == "upload":
        return api.client.post(path, headers=session.headers, content_type="multipart/form-data",
                               data={"workspace_id": ids["ws"],
                                     "file": (io.BytesIO(b"notes\n"), "notes.txt")})
    body = greeting_workflow() if function.setup == "workflow_body" else function.body
    if body is not None:
        body = {key: value.format(**ids) if isinstance(value, str) else value
                for key, value in body.items()}
    return api.request(function.method, path, session, json=body)


@pytest.fixture(scope="module")
def crew(api):
    """One user per workspace role, plus someone to add and an extra viewer to act upon."""
    return {role: api.register(name=role) for role in [*WORKSPACE_ROLES, "extra"]}


@pytest.mark.parametrize("function", WORKSPACE_FUNCTIONS, ids=str)
@pytest.mark.parametrize("role", WORKSPACE_ROLES)
def test_each_workspace_role_against_each_workspace_function(api, crew, function, role):
    owner = crew["owner"]
    members = {"viewer": crew["viewer"], "member": crew["member"], "admin": crew["admin"]}
    ws = team_workspace(api, owner, members)
    add_member(api, owner, ws, crew["extra"], "viewer")
    newcomer = api.register()
    ids = {"ws": ws, "extra": crew["extra"].id, "newcomer_email": newcomer.user["email"]}
    prepare(api, owner, function, ids)
    response = perform(api, crew[role], function, ids)
    if WORKSPACE_ROLES.index(role) >= WORKSPACE_ROLES.index(function.minimum):
        assert response.status_code in (200, 201, 204), response.get_json()
    else:
        assert response.status_code == 403, response.get_json()
        assert response.get_json()["error"]["code"] == "forbidden"


def test_an_admin_cannot_grant_or_remove_ownership(api, crew):
    owner, admin = crew["owner"], crew["admin"]
    ws = team_workspace(api, owner, {"admin": admin, "viewer": crew["viewer"]})
    promote = api.request("PATCH", f"/api/v1/workspaces/{ws}/members/{crew['viewer'].id}", admin,
                          json={"role": "owner"})
    assert promote.status_code == 403
    demote = api.request("PATCH", f"/api/v1/workspaces/{ws}/members/{owner.id}", admin,
                         json={"role": "viewer"})
    assert demote.status_code == 403
    members = api.request("GET", f"/api/v1/workspaces/{ws}/members", owner).get_json()
    assert {m["user_id"]: m["role"] for m in members}[owner.id] == "owner"
