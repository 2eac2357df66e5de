"""The ChatAI-compatible routes under /api: same users, talks and messages as v1."""
from __future__ import annotations

import pytest

from tests.support.mock_provider import FALLBACK


@pytest.fixture
def alice(api):
    return api.register(email="alice@chatai.example", password="alice-pass-1", name="Alice")


def test_login_and_me(client, alice):
    response = client.post("/api/login", json={"email": "alice@chatai.example",
                                               "password": "alice-pass-1"})
    assert response.status_code == 200
    body = response.get_json()
    assert {"access_token", "refresh_token", "user"} <= set(body)
    assert body["user"]["email"] == "alice@chatai.example"
    me = client.get("/api/me", headers={"Authorization": f"Bearer {body['access_token']}"})
    assert me.status_code == 200 and me.get_json()["id"] == alice.id
    wrong = client.post("/api/login", json={"email": "alice@chatai.example", "password": "nope"})
    assert wrong.status_code == 401 and wrong.get_json()["error"]["code"] == "invalid_credentials"


def test_a_conversation_through_the_chatai_routes(api, alice, mock_provider):
    created = api.request("post", "/api/talk", alice, json={"message": "Hi ChatAI"})
    assert created.status_code == 201
    body = created.get_json()
    talk = body["talk"]
    assert [m["content"] for m in body["messages"]] == ["Hi ChatAI", "Echo: Hi ChatAI"]
    assert talk["name"] == "Hi ChatAI" and talk["message_count"] == 2
    assert talk["workspace_id"] == api.personal_workspace(alice)

    sent = api.request("post", "/api/message", alice,
                       json={"talk_id": talk["id"], "content": "And again"})
    assert sent.status_code == 201
    assert sent.get_json()["assistant_message"]["content"] == "Echo: And again"

    history = api.request("get", f"/api/messages-by-talk?talk_id={talk['id']}", alice)
    assert [m["content"] for m in history.get_json()] == [
        "Hi ChatAI", "Echo: Hi ChatAI", "And again", "Echo: And again"]

    renamed = api.request("put", "/api/talk", alice, json={"talk_id": talk["id"], "name": "Renamed"})
    assert renamed.status_code == 200 and renamed.get_json()["name"] == "Renamed"
    listed = api.request("get", "/api/talk-user", alice).get_json()
    assert [t["name"] for t in listed] == ["Renamed"]
    # the same talk through v1
    v1 = api.request("get", f"/api/v1/talks/{talk['id']}", alice).get_json()
    assert v1["name"] == "Renamed" and v1["message_count"] == 4

    deleted = api.request("delete", "/api/talk", alice, json={"talk_id": talk["id"]})
    assert deleted.status_code == 204
    assert api.request("get", "/api/talk-user", alice).get_json() == []
    restored = api.request("post", f"/api/v1/talks/{talk['id']}/restore", alice)
    assert restored.status_code == 200


def test_a_new_talk_with_a_name_and_model(api, alice, mock_provider):
    body = api.request("post", "/api/talk", alice,
                       json={"message": "hello", "name": "Named", "model": f"openai/{FALLBACK}"}
                       ).get_json()
    assert body["talk"]["name"] == "Named"
    assert body["messages"][1]["model"] == f"openai/{FALLBACK}"


def test_provider_failure_on_a_chatai_message_is_a_502_with_the_question_kept(api, alice,
                                                                            mock_provider):
    talk = api.request("post", "/api/talk", alice, json={"message": "first"}).get_json()["talk"]
    mock_provider.behave(None, status=500)
    response = api.request("post", "/api/message", alice,
                           json={"talk_id": talk["id"], "content": "second"})
    assert response.status_code == 502
    history = api.request("get", f"/api/messages-by-talk?talk_id={talk['id']}", alice).get_json()
    assert [(m["content"], m["status"]) for m in history[2:]] == [("second", "complete"),
                                                                  ("", "failed")]


def test_chatai_routes_need_a_token_and_validate_their_bodies(api, client, alice):
    assert client.get("/api/talk-user").status_code == 401
    assert client.get("/api/me").status_code == 401
    response = api.request("post", "/api/message", alice, json={"talk_id": "x", "content": "hi"})
    assert response.status_code == 422 and "talk_id" in response.get_json()["error"]["details"]
    response = api.request("post", "/api/talk", alice, json={})
    assert response.status_code == 422 and "message" in response.get_json()["error"]["details"]
    assert api.request("get", "/api/messages-by-talk", alice).status_code == 422
