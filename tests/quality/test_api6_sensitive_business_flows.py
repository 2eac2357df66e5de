"""OWASP API6:2023 Unrestricted Access to Sensitive Business Flows.

Automated abuse of the flows that matter most to an attacker — guessing passwords, mass
sign-ups, password-reset spam — is cut off with 429 and a Retry-After, per client address (a
forged X-Forwarded-For does not reset it without a trusted proxy), and the limit holds for a
correct password too (no bypass once limited).
"""
from __future__ import annotations

import uuid

import pytest

LIMIT = 3


@pytest.fixture
def settings_overrides() -> dict:
    return {"ratelimit_auth": f"{LIMIT} per minute"}


def email() -> str:
    return f"abuse-{uuid.uuid4().hex[:10]}@example.com"


FLOWS = {
    "login with wrong passwords": lambda client, i: client.post(
        "/api/v1/auth/login", json={"email": "victim@example.com", "password": f"guess-{i:04d}"}),
    "login spraying many accounts": lambda client, i: client.post(
        "/api/v1/auth/login", json={"email": email(), "password": "Summer2026!"}),
    "mass sign-up": lambda client, i: client.post(
        "/api/v1/auth/register", json={"email": email(), "password": "correct-horse-1",
                                       "name": "Bot"}),
    "password-reset spam": lambda client, i: client.post(
        "/api/v1/auth/password-reset", json={"email": "victim@example.com"}),
    "ChatAI login": lambda client, i: client.post(
        "/api/login", json={"email": "victim@example.com", "password": f"guess-{i:04d}"}),
}


def assert_limited(response) -> None:
    assert response.status_code == 429, response.get_json()
    assert response.get_json()["error"]["code"] == "rate_limited"
    assert 0 < int(response.headers["Retry-After"]) <= 60
    assert response.headers["X-RateLimit-Remaining"] == "0"


@pytest.mark.parametrize("flow", list(FLOWS))
def test_abuse_of_the_flow_is_cut_off_with_429_and_retry_after(client, flow):
    attempts = [FLOWS[flow](client, i) for i in range(LIMIT + 2)]
    assert all(response.status_code != 429 for response in attempts[:LIMIT])
    for response in attempts[LIMIT:]:
        assert_limited(response)


def test_a_forged_forwarded_address_does_not_reset_the_limit(client):
    statuses = [client.post("/api/v1/auth/login", headers={"X-Forwarded-For": f"203.0.113.{i}"},
                            json={"email": "victim@example.com", "password": "guess"}).status_code
                for i in range(LIMIT + 1)]
    assert statuses[-1] == 429


def test_once_limited_even_the_right_password_waits(api, client):
    account = api.register(password="correct-horse-1")
    for i in range(LIMIT):
        client.post("/api/v1/auth/login", json={"email": account.user["email"],
                                                 "password": f"guess-{i}"})
    response = client.post("/api/v1/auth/login", json={"email": account.user["email"],
                                                        "password": "correct-horse-1"})
    assert_limited(response)
    assert "access_token" not in response.get_json()


def test_failed_logins_are_audited_for_the_admins(api, client, db):
    account = api.register()
    client.post("/api/v1/auth/login", json={"email": account.user["email"], "password": "nope"})
    failed = db.audit_log.find_one({"action": "auth.login_failed"})
    assert failed is not None and failed["ip"] == "127.0.0.1"
