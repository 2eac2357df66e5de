"""Sending messages through the mock provider: replies, fallbacks, failures, regenerate."""
from __future__ import annotations

import time

import pytest
from bson import ObjectId

from tests.support.fixtures import MOCK_DEFAULT_MODEL, MOCK_FALLBACK_MODEL
from tests.support.mock_provider import FALLBACK, PRIMARY
from tests.support.streams import parse_sse


@pytest.fixture
def settings_overrides(tmp_path, mock_provider_server):
    """A short provider timeout, so the timeout test is quick."""
    catalogue = mock_provider_server.write_catalogue(tmp_path / "models.yaml", timeout=1.5)
    return {"models_config": str(catalogue)}


@pytest.fixture
def alice(api):
    return api.register(name="Alice")


@pytest.fixture
def talk(api, alice):
    return api.request("post", "/api/v1/talks", alice, json={"name": "Chat"}).get_json()


def messages_of(api, session, talk_id):
    response = api.request("get", f"/api/v1/talks/{talk_id}/messages", session)
    assert response.status_code == 200
    return response.get_json()["items"]


def wait_for_usage(db, count, timeout=5.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        records = list(db["usage"].find({}, {"_id": 0}))
        if len(records) >= count:
            return records
        time.sleep(0.05)
    raise AssertionError(f"expected {count} usage records, found {len(records)}")


def test_a_message_gets_a_stored_reply_with_usage(api, alice, talk, mock_provider, db):
    response = api.request("post", f"/api/v1/talks/{talk['id']}/messages", alice,
                           json={"content": "Hello there"})
    assert response.status_code == 201
    body = response.get_json()
    user, reply = body["user_message"], body["assistant_message"]
    assert (user["role"], user["content"], user["status"]) == ("user", "Hello there", "complete")
    assert (reply["role"], reply["content"], reply["status"]) == (
        "assistant", "Echo: Hello there", "complete")
    assert reply["parent_id"] == user["id"] and reply["model"] == MOCK_DEFAULT_MODEL
    assert reply["usage"]["completion_tokens"] == 3 and reply["usage"]["cost_usd"] > 0
    assert reply["usage"]["total_tokens"] == (reply["usage"]["prompt_tokens"]
                                              + reply["usage"]["completion_tokens"])
    assert [m["id"] for m in messages_of(api, alice, talk["id"])] == [user["id"], reply["id"]]
    [record] = wait_for_usage(db, 1)
    assert (record["source"], record["talk_id"], record["status"], record["user_id"]) == (
        "talk", ObjectId(talk["id"]), "success", ObjectId(alice.id))


def test_the_model_sees_the_system_prompts_and_the_history(api, alice, mock_provider):
    workspace = api.personal_workspace(alice)
    api.request("patch", f"/api/v1/workspaces/{workspace}", alice,
                json={"settings": {"system_prompt": "Workspace rules."}})
    talk = api.request("post", "/api/v1/talks", alice,
                       json={"system_prompt": "Talk rules."}).get_json()
    url = f"/api/v1/talks/{talk['id']}/messages"
    api.request("post", url, alice, json={"content": "first"})
    api.request("post", url, alice, json={"content": "second"})
    sent = mock_provider.requests[-1]["messages"]
    assert sent == [
        {"role": "system", "content": "Workspace rules.\n\nTalk rules."},
        {"role": "user", "content": "first"},
        {"role": "assistant", "content": "Echo: first"},
        {"role": "user", "content": "second"},
    ]


def test_history_is_trimmed_to_the_context_window(api, alice, talk, mock_provider, tmp_path, app):
    url = f"/api/v1/talks/{talk['id']}/messages"
    for n in range(6):
        api.request("post", url, alice, json={"content": f"turn {n} " + "word " * 900})
    sent = mock_provider.requests[-1]["messages"]
    gateway = app.extensions["synapscale"].gateway
    window = gateway.context_window(MOCK_DEFAULT_MODEL)
    assert gateway.count_tokens(MOCK_DEFAULT_MODEL, sent) <= window - 1024
    assert sent[0]["role"] == "user" and sent[-1]["content"].startswith("turn 5")
    assert len(sent) < 11


def test_a_message_too_long_for_the_model_is_refused_before_it_is_stored(api, alice, talk,
                                                                         mock_provider):
    response = api.request("post", f"/api/v1/talks/{talk['id']}/messages", alice,
                           json={"content": "word " * 20_000})
    assert response.status_code == 422
    assert messages_of(api, alice, talk["id"]) == []
    assert mock_provider.requests == []


def test_a_failing_primary_falls_back_to_the_second_model(api, alice, talk, mock_provider):
    mock_provider.behave(PRIMARY, status=500)
    response = api.request("post", f"/api/v1/talks/{talk['id']}/messages", alice,
                           json={"content": "fall back"})
    assert response.status_code == 201
    reply = response.get_json()["assistant_message"]
    assert reply["content"] == "Echo: fall back" and reply["model"] == MOCK_FALLBACK_MODEL
    assert mock_provider.calls(FALLBACK)


def test_a_rate_limited_primary_falls_back_too(api, alice, talk, mock_provider):
    mock_provider.behave(PRIMARY, status=429, retry_after=1)
    response = api.request("post", f"/api/v1/talks/{talk['id']}/messages", alice,
                           json={"content": "busy"})
    assert response.status_code == 201
    assert response.get_json()["assistant_message"]["model"] == MOCK_FALLBACK_MODEL


def test_when_every_model_fails_the_answer_is_502_and_both_messages_are_kept(api, alice, talk,
                                                                             mock_provider, db):
    mock_provider.behave(None, status=500)
    response = api.request("post", f"/api/v1/talks/{talk['id']}/messages", alice,
                           json={"content": "are you there?"})
    assert response.status_code == 502
    error = response.get_json()["error"]
    assert error["code"] == "upstream_error"
    user, reply = messages_of(api, alice, talk["id"])
    assert (user["content"], user["status"]) == ("are you there?", "complete")
    assert (reply["status"], reply["parent_id"]) == ("failed", user["id"])
    assert reply["error"]
    assert error["details"]["user_message_id"] == user["id"]
    assert error["details"]["assistant_message_id"] == reply["id"]
    assert "Traceback" not in response.get_data(as_text=True)
    [record] = wait_for_usage(db, 1)
    assert (record["status"], record["error"]) == ("error", "upstream_error")


def test_a_provider_that_hangs_gives_504_and_a_failed_reply(api, alice, talk, mock_provider):
    mock_provider.behave(None, hang=5)
    response = api.request("post", f"/api/v1/talks/{talk['id']}/messages", alice,
                           json={"content": "slow?"})
    assert response.status_code == 504
    assert response.get_json()["error"]["code"] == "upstream_timeout"
    user, reply = messages_of(api, alice, talk["id"])
    assert user["content"] == "slow?" and reply["status"] == "failed"


def test_a_junk_reply_is_an_upstream_error_never_a_500(api, alice, talk, mock_provider):
    mock_provider.behave(None, junk=True)
    response = api.request("post", f"/api/v1/talks/{talk['id']}/messages", alice,
                           json={"content": "junk"})
    assert response.status_code == 502


def test_streaming_sends_the_documented_events_and_stores_the_reply(api, alice, talk,
                                                                    mock_provider):
    mock_provider.behave(None, reply="one two three four")
    response = api.request("post", f"/api/v1/talks/{talk['id']}/messages", alice,
                           json={"content": "count", "stream": True})
    assert response.status_code == 200
    assert response.mimetype == "text/event-stream"
    events = parse_sse(response.get_data(as_text=True))
    names = [name for name, _ in events]
    assert names[:2] == ["user_message", "start"] and names[-1] == "done"
    assert set(names[2:-1]) == {"delta"}
    assert "".join(data["content"] for name, data in events if name == "delta") == \
        "one two three four"
    user = events[0][1]
    start = events[1][1]
    done = events[-1][1]["message"]
    assert user["content"] == "count"
    assert start == {"message_id": done["id"], "model": MOCK_DEFAULT_MODEL}
    assert (done["content"], done["status"], done["parent_id"]) == (
        "one two three four", "complete", user["id"])
    assert done["usage"]["completion_tokens"] == 4
    stored = messages_of(api, alice, talk["id"])
    assert [m["status"] for m in stored] == ["complete", "complete"]
    assert stored[1]["content"] == "one two three four"


def test_the_accept_header_asks_for_a_stream_too(api, alice, talk, mock_provider):
    response = api.request("post", f"/api/v1/talks/{talk['id']}/messages", alice,
                           json={"content": "hi"}, headers={"Accept": "text/event-stream"})
    assert response.mimetype == "text/event-stream"
    assert parse_sse(response.get_data(as_text=True))[-1][0] == "done"


def test_a_failing_stream_ends_with_an_error_event_and_a_failed_reply(api, alice, talk,
                                                                      mock_provider):
    mock_provider.behave(None, status=500)
    response = api.request("post", f"/api/v1/talks/{talk['id']}/messages", alice,
                           json={"content": "doomed", "stream": True})
    events = parse_sse(response.get_data(as_text=True))
    assert [name for name, _ in events] == ["user_message", "start", "error"]
    assert events[-1][1]["code"] == "upstream_error"
    user, reply = messages_of(api, alice, talk["id"])
    assert user["content"] == "doomed" and reply["status"] == "failed"


def test_regenerate_keeps_the_old_reply_as_superseded(api, alice, talk, mock_provider):
    first = api.request("post", f"/api/v1/talks/{talk['id']}/messages", alice,
                        json={"content": "joke please"}).get_json()
    old = first["assistant_message"]
    mock_provider.behave(None, reply="a better joke")
    response = api.request(
        "post", f"/api/v1/talks/{talk['id']}/messages/{old['id']}/regenerate", alice, json={})
    assert response.status_code == 201
    body = response.get_json()
    assert body["user_message"]["id"] == first["user_message"]["id"]
    new = body["assistant_message"]
    assert (new["content"], new["parent_id"]) == ("a better joke", first["user_message"]["id"])
    # the old reply is a sibling on another branch: read with branch=all
    assert [m["id"] for m in messages_of(api, alice, talk["id"])] == [
        first["user_message"]["id"], new["id"]]
    every = api.request("get", f"/api/v1/talks/{talk['id']}/messages?branch=all", alice)
    stored = {m["id"]: m for m in every.get_json()["items"]}
    assert stored[old["id"]]["status"] == "superseded"
    assert stored[new["id"]]["status"] == "complete"
    # the model saw the question once and not the replaced reply
    assert mock_provider.requests[-1]["messages"] == [{"role": "user", "content": "joke please"}]
    user_id = first["user_message"]["id"]
    refused = api.request("post", f"/api/v1/talks/{talk['id']}/messages/{user_id}/regenerate",
                          alice, json={})
    assert refused.status_code == 422


def test_regenerate_can_stream(api, alice, talk, mock_provider):
    first = api.request("post", f"/api/v1/talks/{talk['id']}/messages", alice,
                        json={"content": "again"}).get_json()
    response = api.request(
        "post", f"/api/v1/talks/{talk['id']}/messages/{first['assistant_message']['id']}"
        "/regenerate", alice, json={"stream": True})
    events = parse_sse(response.get_data(as_text=True))
    assert events[0][0] == "user_message" and events[0][1]["id"] == first["user_message"]["id"]
    assert events[-1][0] == "done" and events[-1][1]["message"]["content"] == "Echo: again"


def test_a_viewer_of_the_workspace_cannot_send_messages_in_their_own_old_talk(api, client,
                                                                              mock_provider):
    owner, member = api.register(), api.register()
    created = client.post("/api/v1/workspaces", json={"name": "Team"}, headers=owner.headers)
    workspace = created.get_json()["id"]
    client.post(f"/api/v1/workspaces/{workspace}/members",
                json={"email": member.user["email"], "role": "member"}, headers=owner.headers)
    talk = api.request("post", "/api/v1/talks", member, json={"workspace_id": workspace})
    assert talk.status_code == 201
    talk_id = talk.get_json()["id"]
    client.patch(f"/api/v1/workspaces/{workspace}/members/{member.id}", json={"role": "viewer"},
                 headers=owner.headers)
    assert api.request("get", f"/api/v1/talks/{talk_id}", member).status_code == 200
    response = api.request("post", f"/api/v1/talks/{talk_id}/messages", member,
                           json={"content": "hi"})
    assert response.status_code == 403


def test_empty_or_unknown_fields_are_validation_errors(api, alice, talk):
    url = f"/api/v1/talks/{talk['id']}/messages"
    assert api.request("post", url, alice, json={"content": ""}).status_code == 422
    response = api.request("post", url, alice, json={"content": "x", "role": "system"})
    assert response.status_code == 422 and "role" in response.get_json()["error"]["details"]
    response = api.request("post", url, alice, json={"content": "x", "temperature": 9})
    assert response.status_code == 422
