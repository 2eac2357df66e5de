"""Issue 20: conversations as trees. Editing a message and regenerating a reply add branches,
the current leaf decides what is read, exported and sent to the model (asserted on what the mock
provider received), forks copy a path, and share links are public immutable snapshots."""
from __future__ import annotations

import io
from datetime import timedelta

import pytest
from bson import ObjectId

from entities.clock import utcnow
from tests.support.streams import parse_sse


@pytest.fixture
def alice(api):
    return api.register(name="Alice")


@pytest.fixture
def bob(api):
    return api.register(name="Bob")


@pytest.fixture
def talk(api, alice):
    return api.request("post", "/api/v1/talks", alice, json={"name": "Trip"}).get_json()


def send(api, session, talk_id, content):
    response = api.request("post", f"/api/v1/talks/{talk_id}/messages", session,
                           json={"content": content})
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def path(api, session, talk_id, **query):
    response = api.request("get", f"/api/v1/talks/{talk_id}/messages", session,
                           query_string=query)
    assert response.status_code == 200, response.get_json()
    return [(m["role"], m["content"]) for m in response.get_json()["items"]]


def tree(api, session, talk_id):
    response = api.request("get", f"/api/v1/talks/{talk_id}/tree", session)
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def sent_to_model(mock_provider):
    return [(m["role"], m["content"]) for m in mock_provider.requests[-1]["messages"]]


@pytest.fixture
def two_turns(api, alice, talk, mock_provider):
    """Alice: "Paris?" -> "Echo: Paris?" -> "Rome?" -> "Echo: Rome?"."""
    first = send(api, alice, talk["id"], "Paris?")
    second = send(api, alice, talk["id"], "Rome?")
    return first, second


# --- editing and regenerating ---------------------------------------------------------------------

def test_editing_a_message_adds_a_branch_and_the_model_sees_only_the_history_before_it(
        api, alice, talk, two_turns, mock_provider):
    first, second = two_turns
    edited = api.request("patch", f"/api/v1/talks/{talk['id']}/messages/"
                                  f"{second['user_message']['id']}", alice,
                         json={"content": "Madrid?"})
    assert edited.status_code == 201, edited.get_json()
    body = edited.get_json()
    new_user, reply = body["user_message"], body["assistant_message"]
    assert new_user["id"] != second["user_message"]["id"]
    assert new_user["parent_id"] == second["user_message"]["parent_id"] \
        == first["assistant_message"]["id"]
    assert reply["parent_id"] == new_user["id"] and reply["content"] == "Echo: Madrid?"
    assert sent_to_model(mock_provider) == [("user", "Paris?"), ("assistant", "Echo: Paris?"),
                                            ("user", "Madrid?")]
    assert path(api, alice, talk["id"]) == [("user", "Paris?"), ("assistant", "Echo: Paris?"),
                                            ("user", "Madrid?"), ("assistant", "Echo: Madrid?")]
    assert len(path(api, alice, talk["id"], branch="all")) == 6
    shape = tree(api, alice, talk["id"])
    assert shape["current_leaf_id"] == reply["id"]
    nodes = {node["id"]: node for node in shape["nodes"]}
    assert "content" not in nodes[reply["id"]]
    assert nodes[first["assistant_message"]["id"]]["children"] == [
        second["user_message"]["id"], new_user["id"]]
    # the next message follows the edited branch
    send(api, alice, talk["id"], "And Lisbon?")
    assert sent_to_model(mock_provider)[-3:] == [("user", "Madrid?"),
                                                 ("assistant", "Echo: Madrid?"),
                                                 ("user", "And Lisbon?")]


def test_editing_the_first_message_makes_a_second_root_with_no_history(api, alice, talk,
                                                                       two_turns, mock_provider):
    first, _ = two_turns
    edited = api.request("patch", f"/api/v1/talks/{talk['id']}/messages/"
                                  f"{first['user_message']['id']}", alice,
                         json={"content": "Berlin?", "stream": True})
    assert edited.status_code == 200
    events = parse_sse(edited.get_data(as_text=True))
    assert [name for name, _ in events][:2] == ["user_message", "start"]
    assert events[0][1]["parent_id"] is None and events[0][1]["content"] == "Berlin?"
    assert events[-1][0] == "done"
    assert sent_to_model(mock_provider) == [("user", "Berlin?")]
    roots = [node["id"] for node in tree(api, alice, talk["id"])["nodes"]
             if node["parent_id"] is None]
    assert roots == [first["user_message"]["id"], events[0][1]["id"]]
    assert path(api, alice, talk["id"]) == [("user", "Berlin?"), ("assistant", "Echo: Berlin?")]


def test_an_edit_with_an_idempotency_key_is_stored_once(api, alice, talk, two_turns,
                                                        mock_provider):
    _, second = two_turns
    url = f"/api/v1/talks/{talk['id']}/messages/{second['user_message']['id']}"
    headers = {"Idempotency-Key": "edit-once-1"}
    one = api.request("patch", url, alice, json={"content": "Oslo?"}, headers=headers)
    calls = len(mock_provider.requests)
    two = api.request("patch", url, alice, json={"content": "Oslo?"}, headers=headers)
    assert one.status_code == two.status_code == 201
    assert two.headers.get("Idempotent-Replayed") == "true"
    assert two.get_json()["assistant_message"]["id"] == one.get_json()["assistant_message"]["id"]
    assert len(mock_provider.requests) == calls
    assert len(path(api, alice, talk["id"], branch="all")) == 6


def test_bad_edits_are_refused_and_change_nothing(api, alice, talk, two_turns, mock_provider):
    _, second = two_turns
    base = f"/api/v1/talks/{talk['id']}/messages"
    before = path(api, alice, talk["id"], branch="all")
    calls = len(mock_provider.requests)
    reply_id = second["assistant_message"]["id"]
    assert api.request("patch", f"{base}/{reply_id}", alice,
                       json={"content": "x"}).status_code == 422  # not a user message
    user_id = second["user_message"]["id"]
    assert api.request("patch", f"{base}/{user_id}", alice, json={"content": ""}).status_code == 422
    assert api.request("patch", f"{base}/{user_id}", alice, json={}).status_code == 422
    assert api.request("patch", f"{base}/{user_id}", alice,
                       json={"content": "x", "surprise": 1}).status_code == 422
    assert api.request("patch", f"{base}/{'f' * 24}", alice,
                       json={"content": "x"}).status_code == 404
    assert path(api, alice, talk["id"], branch="all") == before
    assert len(mock_provider.requests) == calls
    assert tree(api, alice, talk["id"])["current_leaf_id"] == reply_id


def test_an_edit_waits_for_the_reply_being_generated(api, alice, talk, two_turns, db):
    _, second = two_turns
    db.talks.update_one({"_id": ObjectId(talk["id"])}, {"$set": {"generating": {
        "message_id": ObjectId(), "until": utcnow() + timedelta(minutes=5)}}})
    refused = api.request("patch", f"/api/v1/talks/{talk['id']}/messages/"
                                   f"{second['user_message']['id']}", alice, json={"content": "x"})
    assert refused.status_code == 409
    assert len(path(api, alice, talk["id"], branch="all")) == 4


def test_regenerating_adds_a_sibling_and_switching_back_changes_what_the_model_sees(
        api, alice, talk, two_turns, mock_provider):
    first, second = two_turns
    old = second["assistant_message"]
    mock_provider.behave(None, reply="Roma!")
    again = api.request("post", f"/api/v1/talks/{talk['id']}/messages/{old['id']}/regenerate",
                        alice, json={}).get_json()
    new = again["assistant_message"]
    shape = tree(api, alice, talk["id"])
    assert shape["current_leaf_id"] == new["id"]
    siblings = {node["id"]: node for node in shape["nodes"]}[second["user_message"]["id"]]
    assert siblings["children"] == [old["id"], new["id"]]
    assert path(api, alice, talk["id"])[-1] == ("assistant", "Roma!")

    switched = api.request("put", f"/api/v1/talks/{talk['id']}/current", alice,
                           json={"leaf_id": old["id"]})
    assert switched.status_code == 200 and switched.get_json()["current_leaf_id"] == old["id"]
    assert path(api, alice, talk["id"])[-1] == ("assistant", "Echo: Rome?")
    mock_provider.behave(None, reply="ok")
    send(api, alice, talk["id"], "Which is older?")
    assert sent_to_model(mock_provider) == [
        ("user", "Paris?"), ("assistant", "Echo: Paris?"), ("user", "Rome?"),
        ("assistant", "Echo: Rome?"), ("user", "Which is older?")]

    # a message with messages after it selects its newest descendant leaf
    back = api.request("put", f"/api/v1/talks/{talk['id']}/current", alice,
                       json={"leaf_id": first["user_message"]["id"]})
    newest = path(api, alice, talk["id"])
    assert back.get_json()["current_leaf_id"] != first["user_message"]["id"]
    assert newest[-2:] == [("user", "Which is older?"), ("assistant", "ok")]


def test_switching_to_a_message_of_another_talk_or_none_is_refused(api, alice, bob, talk,
                                                                   two_turns):
    other = api.request("post", "/api/v1/talks", alice, json={}).get_json()
    elsewhere = send(api, alice, other["id"], "hi")["assistant_message"]["id"]
    url = f"/api/v1/talks/{talk['id']}/current"
    leaf = tree(api, alice, talk["id"])["current_leaf_id"]
    for body in ({"leaf_id": elsewhere}, {"leaf_id": "f" * 24}, {"leaf_id": "nope"}, {}):
        assert api.request("put", url, alice, json=body).status_code == 422, body
    assert api.request("put", url, bob, json={"leaf_id": leaf}).status_code == 404
    assert tree(api, alice, talk["id"])["current_leaf_id"] == leaf


# --- reads that follow the current path -----------------------------------------------------------

def test_markdown_export_and_chatai_reads_follow_the_current_path(api, alice, talk, two_turns,
                                                                  mock_provider):
    _, second = two_turns
    api.request("patch", f"/api/v1/talks/{talk['id']}/messages/{second['user_message']['id']}",
                alice, json={"content": "Vienna?"})
    markdown = api.request("get", f"/api/v1/talks/{talk['id']}/export?format=markdown", alice)
    text = markdown.get_data(as_text=True)
    assert "Vienna?" in text and "Rome?" not in text and "Paris?" in text
    exported = api.request("get", f"/api/v1/talks/{talk['id']}/export?format=json", alice)
    assert len(exported.get_json()["messages"]) == 6  # json: every branch
    chatai = api.request("get", "/api/messages-by-talk", alice,
                         query_string={"talk_id": talk["id"]}).get_json()
    contents = [m["content"] for m in (chatai if isinstance(chatai, list) else chatai["messages"])]
    assert contents == ["Paris?", "Echo: Paris?", "Vienna?", "Echo: Vienna?"]


# --- forks ----------------------------------------------------------------------------------------

def test_a_fork_copies_the_path_up_to_a_message_into_a_new_talk(api, alice, talk, two_turns,
                                                                mock_provider):
    first, _ = two_turns
    forked = api.request("post", f"/api/v1/talks/{talk['id']}/fork", alice,
                         json={"message_id": first["assistant_message"]["id"]})
    assert forked.status_code == 201, forked.get_json()
    copy = forked.get_json()
    assert copy["id"] != talk["id"] and copy["name"] == "Trip (fork)"
    assert copy["workspace_id"] == talk["workspace_id"] and copy["message_count"] == 2
    assert path(api, alice, copy["id"]) == [("user", "Paris?"), ("assistant", "Echo: Paris?")]
    assert len(path(api, alice, talk["id"])) == 4  # the source is unchanged
    send(api, alice, copy["id"], "And Nice?")
    assert sent_to_model(mock_provider) == [("user", "Paris?"), ("assistant", "Echo: Paris?"),
                                            ("user", "And Nice?")]


def test_forks_of_other_users_talks_or_unknown_messages_are_not_found(api, alice, bob, talk,
                                                                      two_turns):
    first, _ = two_turns
    url = f"/api/v1/talks/{talk['id']}/fork"
    message_id = first["user_message"]["id"]
    assert api.request("post", url, bob, json={"message_id": message_id}).status_code == 404
    assert api.request("post", url, alice, json={"message_id": "f" * 24}).status_code == 404
    assert api.request("post", url, alice, json={"message_id": "bad"}).status_code == 422
    listed = api.request("get", "/api/v1/talks", alice).get_json()
    assert [t["id"] for t in listed["items"]] == [talk["id"]]
    assert api.request("get", "/api/v1/talks", bob).get_json()["items"] == []


# --- share links ----------------------------------------------------------------------------------

def create_share(api, session, talk_id, **body):
    response = api.request("post", f"/api/v1/talks/{talk_id}/shares", session, json=body)
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def test_a_share_is_a_public_immutable_snapshot_of_the_current_path(api, client, alice, talk,
                                                                    two_turns, mock_provider):
    share = create_share(api, alice, talk["id"])
    assert share["url"].endswith(f"/api/v1/shared/{share['id']}") and len(share["id"]) >= 22
    assert share["expires_at"] is None
    send(api, alice, talk["id"], "Later message")
    public = client.get(f"/api/v1/shared/{share['id']}")  # no Authorization header
    assert public.status_code == 200
    assert public.headers["Cache-Control"] == "no-store"
    body = public.get_json()
    assert body["title"] == "Trip"
    assert [(m["role"], m["content"]) for m in body["messages"]] == [
        ("user", "Paris?"), ("assistant", "Echo: Paris?"), ("user", "Rome?"),
        ("assistant", "Echo: Rome?")]
    assert set(body["messages"][1]) == {"role", "content", "created_at", "model"}
    assert talk["id"] not in public.get_data(as_text=True)
    assert alice.id not in public.get_data(as_text=True)
    listed = api.request("get", f"/api/v1/talks/{talk['id']}/shares", alice).get_json()
    assert [s["id"] for s in listed["items"]] == [share["id"]]


def test_a_share_never_carries_attachments(api, client, alice, talk, mock_provider):
    workspace = api.personal_workspace(alice)
    uploaded = client.post("/api/v1/files/upload", headers=alice.headers, data={
        "file": (io.BytesIO(b"SECRET-BYTES in a note"), "note.txt"),
        "workspace_id": workspace}, content_type="multipart/form-data")
    assert uploaded.status_code == 201, uploaded.get_json()
    file_id = uploaded.get_json()["id"]
    mock_provider.behave(None, reply="Noted.")  # the reply itself quotes nothing of the file
    sent = api.request("post", f"/api/v1/talks/{talk['id']}/messages", alice,
                       json={"content": "read this", "file_ids": [file_id]})
    assert sent.status_code == 201
    share = create_share(api, alice, talk["id"])
    public = client.get(f"/api/v1/shared/{share['id']}").get_data(as_text=True)
    assert "read this" in public
    assert "SECRET-BYTES" not in public and file_id not in public and "note.txt" not in public


def test_revoked_expired_or_deleted_shares_are_not_found(api, client, alice, bob, talk,
                                                         two_turns, db):
    revoked = create_share(api, alice, talk["id"])
    assert api.request("delete", f"/api/v1/shares/{revoked['id']}", bob).status_code == 404
    assert client.get(f"/api/v1/shared/{revoked['id']}").status_code == 200
    assert api.request("delete", f"/api/v1/shares/{revoked['id']}", alice).status_code == 204
    assert client.get(f"/api/v1/shared/{revoked['id']}").status_code == 404
    assert api.request("delete", f"/api/v1/shares/{revoked['id']}", alice).status_code == 404

    soon = (utcnow() + timedelta(hours=1)).isoformat()
    expiring = create_share(api, alice, talk["id"], expires_at=soon)
    assert expiring["expires_at"] is not None
    assert client.get(f"/api/v1/shared/{expiring['id']}").status_code == 200
    db.shares.update_one({"_id": expiring["id"]},
                         {"$set": {"expires_at": utcnow() - timedelta(seconds=1)}})
    assert client.get(f"/api/v1/shared/{expiring['id']}").status_code == 404

    kept = create_share(api, alice, talk["id"])
    api.request("delete", f"/api/v1/talks/{talk['id']}", alice)
    assert client.get(f"/api/v1/shared/{kept['id']}").status_code == 404
    assert client.get("/api/v1/shared/never-issued-token-xyz").status_code == 404
    assert client.get("/api/v1/shared/%24where").status_code == 404


def test_bad_share_requests_change_nothing(api, alice, bob, talk, two_turns, db):
    url = f"/api/v1/talks/{talk['id']}/shares"
    past = (utcnow() - timedelta(minutes=1)).isoformat()
    assert api.request("post", url, alice, json={"expires_at": past}).status_code == 422
    assert api.request("post", url, alice, json={"expires_at": "soon"}).status_code == 422
    assert api.request("post", url, alice, json={"title": "x"}).status_code == 422
    assert api.request("post", url, bob, json={}).status_code == 404
    assert api.request("get", url, bob).status_code == 404
    assert api.request("post", url, json={}).status_code == 401
    assert db.shares.count_documents({}) == 0


def test_another_user_can_continue_from_a_share_in_a_talk_of_their_own(api, client, alice, bob,
                                                                       talk, two_turns,
                                                                       mock_provider):
    share = create_share(api, alice, talk["id"])
    url = f"/api/v1/shared/{share['id']}/fork"
    assert client.post(url, json={}).status_code == 401
    forked = api.request("post", url, bob, json={})
    assert forked.status_code == 201, forked.get_json()
    copy = forked.get_json()
    assert copy["workspace_id"] == api.personal_workspace(bob) and copy["name"] == "Trip"
    assert path(api, bob, copy["id"]) == [("user", "Paris?"), ("assistant", "Echo: Paris?"),
                                          ("user", "Rome?"), ("assistant", "Echo: Rome?")]
    assert api.request("get", f"/api/v1/talks/{copy['id']}", alice).status_code == 404
    assert api.request("post", url, bob,
                       json={"workspace_id": talk["workspace_id"]}).status_code == 404
    send(api, bob, copy["id"], "Thanks")
    assert sent_to_model(mock_provider)[-1] == ("user", "Thanks")
    assert len(sent_to_model(mock_provider)) == 5


def test_other_users_reach_none_of_the_tree_routes(api, alice, bob, talk, two_turns):
    first, second = two_turns
    base = f"/api/v1/talks/{talk['id']}"
    for method, url, body in [
        ("get", f"{base}/tree", None),
        ("get", f"{base}/messages?branch=all", None),
        ("patch", f"{base}/messages/{second['user_message']['id']}", {"content": "x"}),
        ("put", f"{base}/current", {"leaf_id": first["assistant_message"]["id"]}),
        ("post", f"{base}/fork", {"message_id": first["assistant_message"]["id"]}),
        ("post", f"{base}/shares", {}),
        ("get", f"{base}/shares", None),
    ]:
        response = api.request(method, url, bob, json=body)
        assert response.status_code == 404, (method, url, response.get_json())
    assert len(path(api, alice, talk["id"], branch="all")) == 4


def test_a_viewer_reads_the_tree_but_cannot_change_branches_fork_or_share(api, client,
                                                                         mock_provider):
    owner, member = api.register(), api.register()
    workspace = client.post("/api/v1/workspaces", json={"name": "Team"},
                            headers=owner.headers).get_json()["id"]
    client.post(f"/api/v1/workspaces/{workspace}/members",
                json={"email": member.user["email"], "role": "member"}, headers=owner.headers)
    talk = api.request("post", "/api/v1/talks", member, json={"workspace_id": workspace}).get_json()
    exchange = send(api, member, talk["id"], "hello")
    client.patch(f"/api/v1/workspaces/{workspace}/members/{member.id}", json={"role": "viewer"},
                 headers=owner.headers)
    base = f"/api/v1/talks/{talk['id']}"
    reply = exchange["assistant_message"]["id"]
    assert api.request("get", f"{base}/tree", member).status_code == 200
    assert api.request("put", f"{base}/current", member,
                       json={"leaf_id": reply}).status_code == 403
    assert api.request("post", f"{base}/fork", member, json={"message_id": reply}).status_code == 403
    assert api.request("post", f"{base}/shares", member, json={}).status_code == 403
    assert api.request("patch", f"{base}/messages/{exchange['user_message']['id']}", member,
                       json={"content": "x"}).status_code == 403
