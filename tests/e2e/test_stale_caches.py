"""Caches follow the truth on every worker: a change made through one process (revoking a key,
deleting a workspace, removing a member, changing a budget) applies at once in another that had
cached the old state. The caches' TTL is set to a minute, so only the announcement explains it."""
from __future__ import annotations

import time

import pytest

from app import create_app, shutdown
from tests.support.api import ApiClient
from tests.support.gateway import bearer, completion, create_key
from tests.support.identity import add_member

CACHE_TTL_S = 60.0


@pytest.fixture
def settings_overrides():
    return {"api_key_cache_ttl_s": CACHE_TTL_S, "budget_cache_ttl_s": CACHE_TTL_S}


@pytest.fixture
def other_worker(settings):
    """A second app on the same database: what another gunicorn worker would be."""
    application = create_app(settings)
    yield ApiClient(application.test_client())
    shutdown(application.extensions["synapscale"])


def eventually(check, timeout_s: float = 3.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not check():
        assert time.monotonic() < deadline, "the other worker still acts on what it cached"
        time.sleep(0.05)


def status_on(worker: ApiClient, key: dict) -> int:
    return completion(worker.client, bearer(key["key"])).status_code


@pytest.fixture
def team(api):
    owner = api.register()
    response = api.request("post", "/api/v1/workspaces", owner, json={"name": "Team"})
    return owner, response.get_json()["id"]


def test_a_revoked_key_stops_at_once_on_every_worker(api, other_worker, team, mock_provider):
    owner, workspace = team
    key = create_key(api, owner, workspace)
    assert status_on(other_worker, key) == 200  # verified and cached there

    api.request("delete", f"/api/v1/workspaces/{workspace}/api-keys/{key['id']}", owner)

    eventually(lambda: status_on(other_worker, key) == 401)


def test_a_deleted_workspaces_keys_stop_at_once_on_every_worker(api, other_worker, team,
                                                                 mock_provider):
    owner, workspace = team
    key = create_key(api, owner, workspace)
    assert status_on(other_worker, key) == 200

    assert api.request("delete", f"/api/v1/workspaces/{workspace}", owner).status_code == 204

    eventually(lambda: status_on(other_worker, key) == 401)


def test_a_removed_members_keys_stop_at_once_on_every_worker(api, other_worker, team,
                                                             mock_provider):
    owner, workspace = team
    admin = api.register()
    add_member(api, owner, workspace, admin, "admin")
    key = create_key(api, admin, workspace)
    assert status_on(other_worker, key) == 200

    removed = api.request("delete", f"/api/v1/workspaces/{workspace}/members/{admin.id}", owner)
    assert removed.status_code == 204

    eventually(lambda: status_on(other_worker, key) == 401)


def test_a_lowered_budget_applies_to_the_next_call_on_every_worker(app, api, other_worker, team,
                                                                   mock_provider):
    owner, workspace = team
    key = create_key(api, owner, workspace)
    assert status_on(other_worker, key) == 200  # its budget (none) is cached there
    app.extensions["synapscale"].usage.flush()

    api.request("patch", f"/api/v1/workspaces/{workspace}", owner,
                json={"settings": {"monthly_budget_usd": 0.0000001}})

    eventually(lambda: status_on(other_worker, key) == 402)
