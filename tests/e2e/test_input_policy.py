"""One input policy for every route (issue 17, item 4): bad input is a 400 or a 422, never a 500,
and a counter never disagrees with the documents it counts."""
from __future__ import annotations

import json

import pytest
import websocket
from bson import ObjectId

from entities.talk import Message, MessageRole
from repositories.talks import MongoMessageRepository
from tests.support.streams import served

LONE_SURROGATE = b'{"content": "a \\ud83d b"}'


@pytest.fixture
def alice(api):
    return api.register(name="Alice")


@pytest.fixture
def talk(api, alice):
    response = api.request("post", "/api/v1/talks", alice, json={"name": "Policy"})
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def post_raw(api, session, path: str, body: bytes):
    return api.request("post", path, session, data=body, content_type="application/json")


def assert_bad_request(response) -> None:
    assert response.status_code == 400, (response.status_code, response.get_data()[:300])
    error = response.get_json()["error"]
    assert error["code"] == "bad_request" and error["message"]


def message_count(api, session, talk_id: str) -> int:
    return api.request("get", f"/api/v1/talks/{talk_id}", session).get_json()["message_count"]


def test_a_lone_surrogate_is_a_bad_request_and_stores_nothing(api, alice, talk, db,
                                                              mock_provider):
    response = post_raw(api, alice, f"/api/v1/talks/{talk['id']}/messages", LONE_SURROGATE)
    assert_bad_request(response)
    assert message_count(api, alice, talk["id"]) == 0
    assert db.messages.count_documents({}) == 0


def test_a_message_the_store_refuses_leaves_the_talks_counter_unchanged(api, alice, talk, db):
    messages = MongoMessageRepository(db)
    refused = Message(id="", talk_id=talk["id"], workspace_id=talk["workspace_id"],
                      user_id=alice.id, role=MessageRole.USER, content="a \ud83d b")
    with pytest.raises(UnicodeEncodeError):  # what the driver raises for it
        messages.add(refused)
    stored = db.talks.find_one({"_id": ObjectId(talk["id"])})
    assert stored["message_count"] == 0
    assert db.messages.count_documents({}) == 0

    kept = messages.add(Message(id="", talk_id=talk["id"], workspace_id=talk["workspace_id"],
                                user_id=alice.id, role=MessageRole.USER, content="fine"))
    assert kept.content == "fine"
    assert message_count(api, alice, talk["id"]) == 1


@pytest.mark.parametrize("body", [
    b"[" * 10_000 + b"]" * 10_000,
    b'{"content": ' + b"[" * 10_000 + b"]" * 10_000 + b"}",
    b'{"content": "x", "max_tokens": ' + b"9" * 4_301 + b"}",
    b'{"content": "x", "max_tokens": 99999999999999999999999}',
    b'{"content": "x", "temperature": 1e999}',
    b'{"content": "x", "temperature": NaN}',
    b'{"content": "\xff\xfe not utf-8"}',
    b'{"\\udc00": "key with a lone surrogate"}',
], ids=["nested-arrays", "nested-value", "4301-digits", "beyond-int64", "infinite", "nan",
        "not-utf8", "surrogate-key"])
def test_bodies_outside_the_policy_are_bad_requests(api, alice, talk, db, body):
    response = post_raw(api, alice, f"/api/v1/talks/{talk['id']}/messages", body)
    assert_bad_request(response)
    assert message_count(api, alice, talk["id"]) == 0
    assert db.messages.count_documents({}) == 0


def test_the_policy_holds_on_every_route_including_unauthenticated_ones(api):
    for path in ("/api/v1/auth/login", "/api/v1/talks", "/v1/chat/completions"):
        response = api.request("post", path, data=b"[" * 10_000 + b"]" * 10_000,
                               content_type="application/json")
        assert response.status_code == 400, path
    # the /v1 routes keep OpenAI's error shape
    response = api.request("post", "/v1/chat/completions", data=b"9" * 4_301,
                           content_type="application/json")
    assert response.get_json()["error"]["type"] == "invalid_request_error"


def test_ordinary_json_still_passes(api, alice):
    nested = {"name": "Deep enough", "tags": ["a", "b"]}
    response = api.request("post", "/api/v1/talks", alice, json=nested)
    assert response.status_code == 201
    assert api.request("post", "/api/v1/talks", alice, json={"name": "😀 é"}).get_json()[
        "name"] == "😀 é"


@pytest.mark.parametrize("query", [
    "from=2026-01-01&to=9999-12-31",
    "to=9999-12-31",
    "to=0001-01-01",
    "from=0001-01-01",
    "from=9999-12-31T23:59:59-14:00&to=9999-12-31T23:59:59+00:00",
    "to=0001-01-01T00:00:00+14:00",
])
def test_out_of_range_dates_are_validation_errors(api, alice, query):
    response = api.request("get", f"/api/v1/analytics/usage?{query}", alice)
    assert response.status_code == 422, (query, response.get_json())
    assert response.get_json()["error"]["code"] == "validation_error"


@pytest.mark.parametrize("payload", [
    {"f": "0" * 24, "v": 1, "e": 10 ** 30},
    {"f": "0" * 24, "v": 1, "e": -(10 ** 30)},
    {"f": "0" * 24, "v": 1, "e": "tomorrow"},
    {"f": "0" * 24, "v": 1, "e": None},
    {"f": {"$ne": None}, "v": 1, "e": 4_000_000_000},
    {"f": "0" * 24, "v": [1], "e": 4_000_000_000},
    {"f": "0" * 24, "v": "1", "e": 4_000_000_000},
    {"f": "0" * 24, "e": 4_000_000_000},
    ["f", "v", "e"],
], ids=["far-future", "far-past", "text-expiry", "null-expiry", "object-id", "list-version",
        "text-version", "no-version", "not-an-object"])
def test_forged_link_payloads_are_unknown_links(app, client, payload):
    signer = app.extensions["synapscale"].file_downloads.signer
    response = client.get(f"/api/v1/files/download/{signer.sign(payload)}")
    assert response.status_code == 404, response.get_json()
    assert response.get_json()["error"]["code"] == "not_found"


def test_socket_frames_follow_the_same_policy(app, api, alice, talk, db):
    with served(app) as url:
        ws = websocket.create_connection(
            f"{url.replace('http://', 'ws://')}/api/v1/ws/talks/{talk['id']}"
            f"?token={alice.access_token}", timeout=15)
        try:
            for frame in ('{"type": "message", "content": "a \\ud83d b"}',
                          "[" * 10_000 + "]" * 10_000,
                          '{"type": "message", "content": "x", "max_tokens": ' + "9" * 4_301 + "}"):
                ws.send(frame)
                reply = json.loads(ws.recv())
                assert reply["code"] == "bad_request", reply
            ws.send(json.dumps({"type": "nothing"}))  # the socket is still open and answering
            assert json.loads(ws.recv())["code"] == "bad_request"
        finally:
            ws.close()
    assert message_count(api, alice, talk["id"]) == 0
    assert db.messages.count_documents({}) == 0
