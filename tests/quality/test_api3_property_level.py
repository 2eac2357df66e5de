"""OWASP API3:2023 Broken Object Property Level Authorization.

Excessive data exposure: a scripted walk over every resource type records every JSON response,
and none carries a password or its hash, a stored key hash, an encrypted value, a Mongo `_id`,
or a secret outside the one response that hands it out (a new API key, a new webhook's secret).
Mass assignment: fields a caller must not set (role, owner, workspace, usage, budget spent,
status...) are refused with 422 on every write, and the stored value does not move.
"""
from __future__ import annotations

import json
import re

import pytest

from tests.quality.world import PROVIDER_SECRET, QUALITY_SETTINGS, seed_world
from tests.support.api import ApiClient
from tests.support.identity import make_admin, shared_app

app = shared_app(**QUALITY_SETTINGS)
PASSWORD = "correct-horse-1"
FORBIDDEN_KEYS = re.compile(r"^_id$|password|hash(?!tag)|encrypted|cipher|refresh_jti|^salt$",
                            re.IGNORECASE)
SECRET_VALUES = re.compile(r"\$2[aby]\$\d\d\$|gAAAAA[A-Za-z0-9_-]{20}|sk-syn-[A-Za-z0-9_-]{8}")


class RecordingClient:
    """The Flask test client, keeping (method, path, status, JSON body) of every response."""

    def __init__(self, client):
        self.client = client
        self.seen: list[tuple[str, str, int, object]] = []

    def open(self, path, method="GET", **kwargs):
        response = self.client.open(path, method=method, **kwargs)
        self.seen.append((method.upper(), path.split("?")[0], response.status_code,
                          response.get_json(silent=True)))
        return response

    def __getattr__(self, method):
        return lambda path, **kwargs: self.open(path, method=method.upper(), **kwargs)


def keys_of(value, prefix=""):
    if isinstance(value, dict):
        for key, item in value.items():
            yield f"{prefix}{key}", key
            yield from keys_of(item, f"{prefix}{key}.")
    elif isinstance(value, list):
        for item in value:
            yield from keys_of(item, prefix)


def is_hand_out(method: str, path: str, status: int) -> bool:
    """The responses that show a new API key or webhook secret, once."""
    return (method == "POST" and status == 201 and path.endswith(("/api-keys", "/webhooks")))


@pytest.fixture(scope="module")
def walk(app):
    """Every JSON response of a user's (and an admin's) tour through every resource type."""
    recorder = RecordingClient(app.test_client())
    api = ApiClient(recorder)
    session = api.register(password=PASSWORD)
    api.login(session.user["email"], PASSWORD)
    world = seed_world(api, session)
    ws, talk, file = world["workspace_id"], world["talk_id"], world["file_id"]
    workflow = world["workflow_id"]
    for path in ["/api/v1/auth/me", "/api/v1/auth/sessions", "/api/v1/workspaces",
                 f"/api/v1/workspaces/{ws}", f"/api/v1/workspaces/{ws}/members",
                 f"/api/v1/workspaces/{ws}/providers", f"/api/v1/workspaces/{ws}/api-keys",
                 f"/api/v1/workspaces/{ws}/webhooks",
                 f"/api/v1/workspaces/{ws}/webhooks/{world['webhook_id']}/deliveries",
                 "/api/v1/talks", f"/api/v1/talks/{talk}", f"/api/v1/talks/{talk}/messages",
                 f"/api/v1/talks/{talk}/export?format=json", "/api/v1/search?q=hello",
                 "/api/v1/files", f"/api/v1/files/{file}", f"/api/v1/files/{file}/versions",
                 "/api/v1/workflows", f"/api/v1/workflows/{workflow}",
                 f"/api/v1/workflows/{workflow}/executions",
                 f"/api/v1/executions/{world['execution_id']}", "/api/v1/templates",
                 f"/api/v1/templates/{world['template_id']}", "/api/v1/llm/models",
                 f"/api/v1/analytics/usage?workspace_id={ws}", "/api/me", "/api/talk-user",
                 f"/api/messages-by-talk?talk_id={talk}", "/v1/models", "/api/health"]:
        api.request("GET", path, session)
    api.request("POST", "/api/v1/llm/chat", session,
                json={"messages": [{"role": "user", "content": "hello"}]})
    api.request("POST", "/v1/chat/completions", session, json={
        "model": "openai/mock-primary", "messages": [{"role": "user", "content": "hello"}]})
    api.request("POST", "/api/talk", session, json={"message": "hello"})
    admin = make_admin(api, app.extensions["synapscale"].db)
    for path in ["/api/v1/admin/users", "/api/v1/admin/audit?size=100"]:
        api.request("GET", path, admin)
    api.request("PATCH", f"/api/v1/admin/users/{session.id}", admin, json={"role": "analyst"})
    return recorder.seen, world


def test_the_walk_covered_every_resource_type(walk):
    seen, _ = walk
    assert len(seen) > 45
    assert all(status < 500 for _, _, status, _ in seen)
    assert {status for _, _, status, _ in seen} <= {200, 201, 202, 204}


def test_no_response_carries_a_hash_an_encrypted_value_or_a_mongo_id(walk):
    seen, _ = walk
    leaks = [(method, path, dotted) for method, path, _, body in seen
             for dotted, key in keys_of(body) if FORBIDDEN_KEYS.search(key)]
    assert leaks == []


def test_secrets_appear_only_in_the_response_that_hands_them_out(walk):
    seen, world = walk
    for method, path, status, body in seen:
        if is_hand_out(method, path, status):
            continue
        text = json.dumps(body)
        for secret in (PROVIDER_SECRET, PASSWORD, world["api_key"], world["webhook_secret"]):
            assert secret not in text, (method, path)
        assert not SECRET_VALUES.search(text), (method, path, SECRET_VALUES.search(text))


def test_the_provider_key_is_shown_only_as_a_hint(walk):
    seen, _ = walk
    hints = [p["key_hint"] for method, path, _, body in seen if path.endswith("/providers")
             for p in (body if isinstance(body, list) else [body]) if p.get("configured")]
    assert hints and all(len(hint) < 16 and PROVIDER_SECRET not in hint for hint in hints)


@pytest.fixture(scope="module")
def api(app):
    return ApiClient(app.test_client())


@pytest.fixture(scope="module")
def owner(api):
    session = api.register()
    return session, seed_world(api, session)


W = "/api/v1/workspaces/{workspace_id}"
# (method, path, a legal body, the fields a caller must not assign)
MASS_ASSIGNMENT = [
    ("PATCH", "/api/v1/auth/me", {"name": "n"},
     {"role": "admin", "is_active": True, "email": "boss@example.com", "email_verified": True,
      "id": "0" * 24, "password_hash": "x"}),
    ("POST", "/api/v1/auth/register",
     {"email": "mass@example.com", "password": "correct-horse-1", "name": "n"},
     {"role": "admin", "is_active": True, "email_verified": True}),
    ("POST", "/api/v1/talks", {"name": "n"},
     {"user_id": "0" * 24, "owner_id": "0" * 24, "message_count": 9, "archived_at": None,
      "created_at": "2020-01-01T00:00:00Z", "usage": {"total_tokens": 0}}),
    ("PATCH", "/api/v1/talks/{talk_id}", {"name": "n"},
     {"workspace_id": "0" * 24, "user_id": "0" * 24, "message_count": 0, "id": "0" * 24}),
    ("POST", "/api/v1/talks/{talk_id}/messages", {"content": "hi"},
     {"role": "system", "status": "complete", "usage": {"cost_usd": 0}, "user_id": "0" * 24,
      "cost_usd": 0}),
    ("PATCH", "/api/v1/files/{file_id}", {"description": "d"},
     {"owner_id": "0" * 24, "workspace_id": "0" * 24, "size": 1, "sha256": "0", "version": 9}),
    ("POST", "/api/v1/workspaces", {"name": "n"},
     {"owner_id": "0" * 24, "role": "owner", "is_personal": True}),
    ("PATCH", W, {"name": "n"},
     {"owner_id": "0" * 24, "role": "owner", "is_personal": False, "spent_usd": 0,
      "usage": {"cost_usd": 0}}),
    ("PATCH", W, {"settings": {"monthly_budget_usd": 5}},
     {"settings": {"monthly_budget_usd": 5, "spent_usd": 0}}),
    ("POST", W + "/api-keys", {"name": "n"},
     {"key": "sk-syn-chosen", "key_hash": "x", "spent_usd": 0, "workspace_id": "0" * 24,
      "created_by": "0" * 24, "usage": {"cost_usd": 0}}),
    ("POST", W + "/members", {"email": "m@example.com", "role": "member"},
     {"user_id": "0" * 24, "joined_at": "2020-01-01T00:00:00Z"}),
    ("POST", W + "/webhooks", {"url": "http://127.0.0.1:9/h", "events": ["talk.created"]},
     {"secret": "chosen-secret", "workspace_id": "0" * 24}),
    ("PUT", W + "/providers/openai", {"api_key": "sk-test-000000000"},
     {"encrypted_key": "x", "key_hint": "sk-...real", "workspace_id": "0" * 24}),
    ("PATCH", "/api/v1/workflows/{workflow_id}", {"name": "n"},
     {"workspace_id": "0" * 24, "created_by": "0" * 24, "id": "0" * 24, "created_at": None}),
    ("POST", "/api/v1/workflows/{workflow_id}/execute", {"inputs": {"name": "x"}},
     {"status": "succeeded", "outputs": {}, "workspace_id": "0" * 24}),
    ("POST", "/api/v1/templates/{template_id}/ratings", {"stars": 5},
     {"installs": 1000, "rating": 5, "user_id": "0" * 24}),
    ("POST", "/api/v1/llm/chat", {"messages": [{"role": "user", "content": "hi"}]},
     {"user_id": "0" * 24, "api_key_id": "0" * 24, "cost_usd": 0}),
]


def cases():
    for method, path, body, fields in MASS_ASSIGNMENT:
        for name, value in fields.items():
            extra = value if name == "settings" else {name: value}
            payload = {**body, **extra} if name != "settings" else {**body, "settings": value}
            yield pytest.param(method, path, payload, name, id=f"{method} {path} +{name}")


@pytest.mark.parametrize(("method", "path", "body", "field"), list(cases()))
def test_a_field_the_caller_must_not_set_is_refused(api, owner, method, path, body, field):
    session, world = owner
    response = api.request(method, path.format(**world), session, json=body)
    assert response.status_code == 422, (field, response.status_code, response.get_json())
    assert response.get_json()["error"]["code"] == "validation_error"


def test_nothing_was_assigned(app, api, owner):
    session, world = owner
    me = api.request("GET", "/api/v1/auth/me", session).get_json()
    assert me["role"] == "user" and me["email"] == session.user["email"]
    users = app.extensions["synapscale"].db.users
    assert users.count_documents({"email": "mass@example.com"}) == 0
    talk = api.request("GET", f"/api/v1/talks/{world['talk_id']}", session).get_json()
    assert talk["workspace_id"] == world["workspace_id"]
    workspace = api.request("GET", f"/api/v1/workspaces/{world['workspace_id']}",
                            session).get_json()
    assert workspace["role"] == "owner" and workspace["is_personal"] is True
