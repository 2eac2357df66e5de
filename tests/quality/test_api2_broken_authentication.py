"""OWASP API2:2023 Broken Authentication.

Every operation the spec protects with a bearer token refuses a request without one, and a
token that is expired, tampered with, unsigned (`alg: none`), signed with another key, revoked
by logout, a refresh token used as an access token, or the token of a deactivated user is
refused with 401 wherever it is presented (REST, the OpenAI face, WebSockets).
"""
from __future__ import annotations

import base64
import json
import time

import jwt
import pytest

from tests.quality.sockets import close_code, connect
from tests.quality.world import QUALITY_SETTINGS, seed_world
from tests.support.api import ApiClient
from tests.support.identity import bearer, make_admin, shared_app
from tests.support.streams import served

app = shared_app(**QUALITY_SETTINGS)
ME = "/api/v1/auth/me"
# Where a bad token is tried: the v1 API, the ChatAI face, the OpenAI face, a write.
PROBES = [("GET", ME, None), ("GET", "/api/v1/workspaces", None), ("GET", "/api/me", None),
          ("GET", "/v1/models", None), ("POST", "/api/v1/talks", {"name": "x"})]


@pytest.fixture(scope="module")
def api(app):
    return ApiClient(app.test_client())


@pytest.fixture(scope="module")
def secret(app) -> str:
    return app.extensions["synapscale"].settings.jwt_secret_key


def claims_of(token: str) -> dict:
    return jwt.decode(token, options={"verify_signature": False})


def b64(data: dict) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


def forged(api, secret) -> dict[str, str]:
    """Bad tokens made from a good one, by the ways attackers make them."""
    session = api.register()
    good = session.access_token
    claims = claims_of(good)
    head, payload, signature = good.split(".")
    flipped = signature[:-2] + ("AA" if not signature.endswith("AA") else "BB")
    return {
        "expired": jwt.encode({**claims, "iat": claims["iat"] - 7200, "nbf": claims["iat"] - 7200,
                               "exp": int(time.time()) - 60}, secret, algorithm="HS256"),
        "tampered signature": f"{head}.{payload}.{flipped}",
        "tampered payload": f"{head}.{b64({**claims, 'role': 'admin'})}.{signature}",
        "alg none": f"{b64({'alg': 'none', 'typ': 'JWT'})}.{b64({**claims, 'role': 'admin'})}.",
        "other key": jwt.encode({**claims, "role": "admin"}, "not-the-server-key-" * 3,
                                algorithm="HS256"),
        "refresh as access": session.refresh_token,
        "garbage": "not.a.jwt",
        "empty": "",
    }


def expected_codes(kind: str) -> set[str]:
    return {"token_expired"} if kind == "expired" else {"unauthorized", "token_revoked"}


def protected_operations(spec: dict) -> list[tuple[str, str]]:
    """(method, path) of every operation whose only security is a bearer token."""
    return [(method, path) for path, item in spec["paths"].items() for method, op in item.items()
            if method != "parameters" and op.get("security")
            and {} not in op["security"] and "101" not in op.get("responses", {})]


def test_every_protected_operation_refuses_a_request_without_a_token(api):
    operations = protected_operations(api.client.get("/openapi.json").get_json())
    assert len(operations) > 60
    accepted = []
    for method, path in operations:
        url = path.replace("{", "").replace("}", "")  # any id: the token is checked first
        response = api.client.open(url, method=method.upper(), json={})
        if response.status_code != 401:
            accepted.append((method, path, response.status_code))
    assert accepted == []


@pytest.mark.parametrize("kind", ["expired", "tampered signature", "tampered payload", "alg none",
                                  "other key", "refresh as access", "garbage", "empty"])
def test_a_bad_access_token_is_refused_everywhere(api, secret, kind):
    token = forged(api, secret)[kind]
    for method, path, body in PROBES:
        response = api.client.open(path, method=method, headers=bearer(token), json=body)
        assert response.status_code == 401, (kind, path, response.get_json())
        if not path.startswith("/v1/"):
            assert response.get_json()["error"]["code"] in expected_codes(kind), (kind, path)


def test_an_access_token_is_not_a_refresh_token(api):
    session = api.register()
    response = api.client.post("/api/v1/auth/refresh", headers=session.headers)
    assert response.status_code == 401


def test_tokens_stop_working_at_logout(api):
    session = api.register()
    assert api.client.post("/api/v1/auth/logout", headers=session.headers,
                           json={"refresh_token": session.refresh_token}).status_code == 204
    for method, path, body in PROBES:
        response = api.client.open(path, method=method, headers=session.headers, json=body)
        assert response.status_code == 401, path
    assert api.client.post("/api/v1/auth/refresh",
                           headers=bearer(session.refresh_token)).status_code == 401


def test_logout_everywhere_ends_every_session(api):
    first = api.register(password="correct-horse-1")
    second = api.login(first.user["email"], "correct-horse-1")
    assert api.client.post("/api/v1/auth/logout-all", headers=second.headers).status_code == 204
    for session in (first, second):
        assert api.client.get(ME, headers=session.headers).status_code == 401


def test_a_replayed_refresh_token_revokes_its_whole_login(api):
    session = api.register()
    renewed = api.client.post("/api/v1/auth/refresh", headers=bearer(session.refresh_token))
    assert renewed.status_code == 200
    replay = api.client.post("/api/v1/auth/refresh", headers=bearer(session.refresh_token))
    assert replay.status_code == 401
    assert api.client.get(ME, headers=bearer(renewed.get_json()["access_token"])).status_code == 401


def test_a_password_change_ends_the_other_sessions(api):
    first = api.register(password="correct-horse-1")
    second = api.login(first.user["email"], "correct-horse-1")
    changed = api.client.post("/api/v1/auth/password", headers=second.headers, json={
        "current_password": "correct-horse-1", "new_password": "correct-horse-2"})
    assert changed.status_code == 204
    assert api.client.get(ME, headers=first.headers).status_code == 401


def deactivate(app, api, victim) -> None:
    admin = make_admin(api, app.extensions["synapscale"].db)
    response = api.request("PATCH", f"/api/v1/admin/users/{victim.id}", admin,
                           json={"is_active": False})
    assert response.status_code == 200 and response.get_json()["is_active"] is False


def test_a_deactivated_user_is_locked_out_at_once(app, api):
    victim = api.register(password="correct-horse-1")
    deactivate(app, api, victim)
    for method, path, body in PROBES:
        assert api.client.open(path, method=method, headers=victim.headers,
                               json=body).status_code == 401, path
    assert api.client.post("/api/v1/auth/refresh",
                           headers=bearer(victim.refresh_token)).status_code == 401
    login = api.client.post("/api/v1/auth/login", json={"email": victim.user["email"],
                                                         "password": "correct-horse-1"})
    assert login.status_code in (401, 403)
    assert "access_token" not in (login.get_json() or {})


def test_a_deactivated_users_api_keys_stop_working_too(app, api):
    victim = api.register()
    key = api.request("POST", f"/api/v1/workspaces/{api.personal_workspace(victim)}/api-keys",
                      victim, json={"name": "k"}).get_json()["key"]
    deactivate(app, api, victim)
    time.sleep(app.extensions["synapscale"].settings.api_key_cache_ttl_s + 0.5)
    completion = api.client.post("/v1/chat/completions", headers=bearer(key), json={
        "model": "openai/mock-primary", "messages": [{"role": "user", "content": "hi"}]})
    assert completion.status_code == 401, "the key would let a banned user keep spending"


def test_wrong_password_and_unknown_email_look_the_same(api):
    session = api.register()
    wrong = api.client.post("/api/v1/auth/login", json={"email": session.user["email"],
                                                         "password": "wrong-password-1"})
    unknown = api.client.post("/api/v1/auth/login", json={"email": "ghost@example.com",
                                                           "password": "wrong-password-1"})
    assert wrong.status_code == unknown.status_code == 401
    assert wrong.get_json() == unknown.get_json()


def test_a_revoked_api_key_stops_working(app, api):
    session = api.register()
    world = seed_world(api, session)
    path = f"/api/v1/workspaces/{world['workspace_id']}/api-keys/{world['key_id']}"
    assert api.request("DELETE", path, session).status_code == 204
    time.sleep(app.extensions["synapscale"].settings.api_key_cache_ttl_s + 0.5)
    response = api.client.get("/v1/models", headers=bearer(world["api_key"]))
    assert response.status_code == 401


def test_websockets_refuse_bad_and_revoked_tokens_with_4401(app, api, secret):
    session = api.register()
    world = seed_world(api, session)
    bad = forged(api, secret)
    api.client.post("/api/v1/auth/logout", headers=session.headers)
    tokens = [bad["expired"], bad["alg none"], bad["refresh as access"], session.access_token]
    paths = ["/api/v1/ws/user", f"/api/v1/ws/talks/{world['talk_id']}",
             f"/api/v1/ws/executions/{world['execution_id']}"]
    with served(app) as url:
        base = url.replace("http://", "ws://")
        for path in paths:
            for token in tokens:
                ws = connect(base, path, token)
                try:
                    assert close_code(ws) == 4401, path
                finally:
                    ws.close()
