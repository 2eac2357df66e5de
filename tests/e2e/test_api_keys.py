"""Workspace API keys over HTTP: shown once, stored hashed, admin-only, revoked and expired keys
refused on /v1 in OpenAI's error shape, revocation reaching other processes within seconds."""
from __future__ import annotations

import hashlib
import time
from datetime import UTC, datetime, timedelta

import pytest

from app import create_app, shutdown
from tests.support.gateway import assert_openai_error, bearer, completion, create_key, new_member


@pytest.fixture
def owner(api):
    return api.register()


@pytest.fixture
def workspace(api, owner):
    return api.personal_workspace(owner)


def keys_path(workspace_id: str) -> str:
    return f"/api/v1/workspaces/{workspace_id}/api-keys"


def test_a_new_key_is_shown_once_and_stored_only_as_a_hash(api, db, owner, workspace):
    created = create_key(api, owner, workspace, name="ci", monthly_budget_usd=5)
    secret = created["key"]
    assert secret.startswith("sk-syn-") and len(secret) > 40
    assert created["key_hint"] == f"sk-syn-...{secret[-4:]}"
    assert (created["name"], created["monthly_budget_usd"], created["expires_at"],
            created["last_used_at"]) == ("ci", 5.0, None, None)
    stored = db.api_keys.find_one({})
    assert stored["key_hash"] == hashlib.sha256(secret.encode()).hexdigest()
    assert secret not in str(stored)
    listed = api.request("get", keys_path(workspace), owner).get_json()
    assert [key["id"] for key in listed] == [created["id"]]
    assert "key" not in listed[0] and "key_hash" not in listed[0]


def test_a_key_calls_the_model_and_records_when_it_was_last_used(api, client, owner, workspace,
                                                                mock_provider):
    created = create_key(api, owner, workspace)
    assert completion(client, bearer(created["key"])).status_code == 200
    listed = api.request("get", keys_path(workspace), owner).get_json()
    assert listed[0]["last_used_at"] is not None


def test_only_workspace_admins_manage_keys_and_strangers_see_nothing(api, owner, workspace):
    key = create_key(api, owner, workspace)
    admin = new_member(api, owner, workspace, "admin")
    member = new_member(api, owner, workspace, "member")
    stranger = api.register()
    assert api.request("get", keys_path(workspace), admin).status_code == 200
    for session, status in ((member, 403), (stranger, 404)):
        assert api.request("get", keys_path(workspace), session).status_code == status
        assert api.request("post", keys_path(workspace), session,
                           json={"name": "x"}).status_code == status
        assert api.request("delete", f"{keys_path(workspace)}/{key['id']}",
                           session).status_code == status
    assert api.request("delete", f"{keys_path(workspace)}/{key['id']}", admin).status_code == 204


def test_bad_key_requests_are_validation_errors(api, owner, workspace):
    past = (datetime.now(UTC) - timedelta(hours=1)).isoformat()
    for body, field in (({}, "name"), ({"name": "x", "secret": "mine"}, "secret"),
                        ({"name": "x", "expires_at": past}, "expires_at"),
                        ({"name": "x", "monthly_budget_usd": -1}, "monthly_budget_usd")):
        response = api.request("post", keys_path(workspace), owner, json=body)
        assert response.status_code == 422, body
        assert field in response.get_json()["error"]["details"]


def test_a_revoked_key_fails_at_once_in_openai_error_shape(api, client, owner, workspace,
                                                          mock_provider):
    key = create_key(api, owner, workspace)
    assert completion(client, bearer(key["key"])).status_code == 200  # now cached
    assert api.request("delete", f"{keys_path(workspace)}/{key['id']}", owner).status_code == 204
    assert_openai_error(completion(client, bearer(key["key"])), 401, "token_revoked")
    assert api.request("get", keys_path(workspace), owner).get_json() == []
    assert api.request("delete", f"{keys_path(workspace)}/{key['id']}", owner).status_code == 404


def test_an_expired_key_fails_in_openai_error_shape(api, client, db, owner, workspace,
                                                   mock_provider):
    key = create_key(api, owner, workspace,
                     expires_at=(datetime.now(UTC) + timedelta(seconds=1)).isoformat())
    assert completion(client, bearer(key["key"])).status_code == 200
    time.sleep(1.1)
    error = assert_openai_error(completion(client, bearer(key["key"])), 401, "token_expired")
    assert error["type"] == "authentication_error"
    assert_openai_error(client.get("/v1/models", headers=bearer(key["key"])), 401, "token_expired")


def test_an_unknown_key_or_no_credentials_fail_in_openai_error_shape(client, mock_provider):
    assert_openai_error(completion(client, bearer("sk-syn-not-a-real-key")), 401, "unauthorized")
    assert_openai_error(completion(client, {}), 401, "unauthorized")
    assert mock_provider.requests == []


def test_keys_of_a_deleted_workspace_stop_working(api, client, owner, mock_provider):
    team = api.request("post", "/api/v1/workspaces", owner, json={"name": "Team"}).get_json()
    key = create_key(api, owner, team["id"])
    assert api.request("delete", f"/api/v1/workspaces/{team['id']}", owner).status_code == 204
    assert_openai_error(completion(client, bearer(key["key"])), 401)


@pytest.mark.parametrize("settings_overrides", [{"api_key_cache_ttl_s": 0.5}])
def test_a_revocation_reaches_another_process_within_the_cache_ttl(app, settings, api, client,
                                                                   owner, workspace,
                                                                   mock_provider):
    other_worker = create_app(settings)  # same database, its own caches: another gunicorn worker
    try:
        other = other_worker.test_client()
        key = create_key(api, owner, workspace)
        assert completion(other, bearer(key["key"])).status_code == 200
        assert api.request("delete", f"{keys_path(workspace)}/{key['id']}",
                           owner).status_code == 204
        deadline = time.monotonic() + 5
        while completion(other, bearer(key["key"])).status_code == 200:
            assert time.monotonic() < deadline, "the other process kept accepting a revoked key"
            time.sleep(0.1)
        assert_openai_error(completion(other, bearer(key["key"])), 401, "token_revoked")
    finally:
        shutdown(other_worker.extensions["synapscale"])
