"""Talks are private to their owner: another user, even an owner of the same workspace, gets 404
on every route that names the talk, and their searches never see it."""
from __future__ import annotations

import json

import pytest
import websocket

from tests.support.streams import served


@pytest.fixture
def team(api, client):
    """Bob owns a team workspace; Alice is a member of it and talks there."""
    bob, alice = api.register(name="Bob"), api.register(name="Alice")
    workspace = client.post("/api/v1/workspaces", json={"name": "Team"},
                            headers=bob.headers).get_json()["id"]
    added = client.post(f"/api/v1/workspaces/{workspace}/members",
                        json={"email": alice.user["email"], "role": "member"},
                        headers=bob.headers)
    assert added.status_code == 201
    return bob, alice, workspace


@pytest.fixture
def alices_talk(api, team, mock_provider):
    _bob, alice, workspace = team
    talk = api.request("post", "/api/v1/talks", alice,
                       json={"workspace_id": workspace, "name": "secret plans"}).get_json()
    exchange = api.request("post", f"/api/v1/talks/{talk['id']}/messages", alice,
                           json={"content": "the secret is 42"}).get_json()
    return talk["id"], exchange["user_message"]["id"], exchange["assistant_message"]["id"]


def routes(talk_id, user_message_id, reply_id):
    base = f"/api/v1/talks/{talk_id}"
    return [
        ("get", base, None),
        ("patch", base, {"name": "mine now"}),
        ("delete", base, None),
        ("post", f"{base}/restore", None),
        ("get", f"{base}/messages", None),
        ("post", f"{base}/messages", {"content": "hi"}),
        ("post", f"{base}/messages", {"content": "hi", "stream": True}),
        ("post", f"{base}/messages/{reply_id}/regenerate", {}),
        ("post", f"{base}/stop", None),
        ("get", f"{base}/messages/{reply_id}/stream", None),
        ("delete", f"{base}/messages/{user_message_id}", None),
        ("get", f"{base}/export?format=json", None),
        ("get", f"{base}/export?format=markdown", None),
        ("put", "/api/talk", {"talk_id": talk_id, "name": "mine"}),
        ("delete", "/api/talk", {"talk_id": talk_id}),
        ("get", f"/api/messages-by-talk?talk_id={talk_id}", None),
        ("post", "/api/message", {"talk_id": talk_id, "content": "hi"}),
    ]


def test_an_owner_of_the_workspace_gets_404_on_every_route_of_a_members_talk(
        api, team, alices_talk, mock_provider):
    bob, alice, _ = team
    for method, path, body in routes(*alices_talk):
        response = api.request(method, path, bob, json=body)
        assert response.status_code == 404, (method, path, response.status_code)
        assert response.get_json()["error"]["code"] == "not_found"
    assert mock_provider.requests == [mock_provider.requests[0]]  # only Alice's own exchange
    talk_id = alices_talk[0]
    talk = api.request("get", f"/api/v1/talks/{talk_id}", alice).get_json()
    assert talk["name"] == "secret plans" and talk["message_count"] == 2


def test_another_users_searches_and_lists_never_show_the_talk(api, team, alices_talk):
    bob, _alice, workspace = team
    for path in ("/api/v1/search?q=secret", f"/api/v1/search?q=secret&workspace_id={workspace}",
                 "/api/v1/talks", f"/api/v1/talks?workspace_id={workspace}"):
        body = api.request("get", path, bob).get_json()
        assert body["items"] == [] and body["total"] == 0, path
    assert api.request("get", "/api/talk-user", bob).get_json() == []


def test_a_stranger_cannot_list_talks_of_a_workspace_they_are_not_in(api, team, alices_talk):
    _bob, _alice, workspace = team
    stranger = api.register()
    response = api.request("get", f"/api/v1/talks?workspace_id={workspace}", stranger)
    assert response.status_code == 404


def test_a_member_who_leaves_the_workspace_loses_its_talks(api, client, team, alices_talk):
    bob, alice, workspace = team
    removed = client.delete(f"/api/v1/workspaces/{workspace}/members/{alice.id}",
                            headers=bob.headers)
    assert removed.status_code == 204
    talk_id = alices_talk[0]
    assert api.request("get", f"/api/v1/talks/{talk_id}", alice).status_code == 404
    assert api.request("get", "/api/v1/search?q=secret", alice).get_json()["total"] == 0


def test_the_websocket_of_a_members_talk_closes_4404_for_the_workspace_owner(
        app, team, alices_talk):
    bob, alice, _ = team
    with served(app) as url:
        base = url.replace("http://", "ws://")
        ws = websocket.create_connection(
            f"{base}/api/v1/ws/talks/{alices_talk[0]}?token={bob.access_token}", timeout=10)
        opcode, data = ws.recv_data(control_frame=True)
        assert opcode == websocket.ABNF.OPCODE_CLOSE
        assert int.from_bytes(data[:2], "big") == 4404
        own = websocket.create_connection(
            f"{base}/api/v1/ws/talks/{alices_talk[0]}?token={alice.access_token}", timeout=10)
        own.send(json.dumps({"type": "resume", "message_id": alices_talk[2]}))
        assert json.loads(own.recv())["type"] == "start"
        own.close()
