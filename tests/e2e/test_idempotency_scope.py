"""Whose an Idempotency-Key is: on /v1 (the workspace in a key or in `X-Workspace-ID`, not in the
path) a key used in one workspace is not replayed in another, by the same user's token or by
another workspace's API key (API.md "Streams and sends that never duplicate or lose")."""
from __future__ import annotations

import pytest

from tests.support.gateway import ask, bearer, create_key


@pytest.fixture
def owner(api):
    return api.register()


@pytest.fixture
def workspaces(api, owner):
    team = api.request("post", "/api/v1/workspaces", owner, json={"name": "Team"}).get_json()
    return api.personal_workspace(owner), team["id"]


def post(client, path, headers, body, key="same-key"):
    return client.post(path, json=body, headers={**headers, "Idempotency-Key": key})


def test_a_token_s_key_in_one_workspace_is_not_replayed_in_another(client, owner, workspaces,
                                                                 mock_provider):
    personal, team = workspaces
    first = post(client, "/v1/chat/completions", {**owner.headers, "X-Workspace-ID": personal},
                 ask())
    other = post(client, "/v1/chat/completions", {**owner.headers, "X-Workspace-ID": team}, ask())
    assert first.status_code == other.status_code == 200
    assert "Idempotent-Replayed" not in other.headers
    assert other.get_json()["id"] != first.get_json()["id"]
    assert len(mock_provider.requests) == 2
    again = post(client, "/v1/chat/completions", {**owner.headers, "X-Workspace-ID": team}, ask())
    assert again.headers.get("Idempotent-Replayed") == "true"
    assert again.get_json() == other.get_json()


def test_another_workspace_s_api_key_neither_replays_nor_conflicts(api, client, owner, workspaces,
                                                                  mock_provider):
    personal, team = workspaces
    key_a = create_key(api, owner, personal)["key"]
    key_b = create_key(api, owner, team)["key"]
    first = post(client, "/v1/chat/completions", bearer(key_a), ask("secret plan"))
    replayed = post(client, "/v1/chat/completions", bearer(key_b), ask("secret plan"))
    assert "Idempotent-Replayed" not in replayed.headers
    assert replayed.get_json()["id"] != first.get_json()["id"]
    other_body = post(client, "/v1/chat/completions", bearer(key_b), ask("another"), key="k2")
    assert other_body.status_code == 200
    assert post(client, "/v1/chat/completions", bearer(key_a), ask("x"), key="k2"
                ).status_code == 200  # not 409: workspace B's use of k2 is not A's
    assert len(mock_provider.requests) == 4


def test_a_replayed_response_id_belongs_to_the_workspace_that_asks(client, owner, workspaces,
                                                                    mock_provider):
    personal, team = workspaces
    body = {"input": "hi"}
    first = post(client, "/v1/responses", {**owner.headers, "X-Workspace-ID": personal}, body)
    other = post(client, "/v1/responses", {**owner.headers, "X-Workspace-ID": team}, body)
    assert first.status_code == other.status_code == 200
    response_id = other.get_json()["id"]
    assert response_id != first.get_json()["id"]
    kept = client.get(f"/v1/responses/{response_id}",
                      headers={**owner.headers, "X-Workspace-ID": team})
    assert kept.status_code == 200
