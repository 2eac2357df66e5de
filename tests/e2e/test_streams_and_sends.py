"""Streams and sends that never duplicate or lose (issue 17 items 1 and 2; API.md): idempotent
creating requests (`Idempotency-Key`, `client_message_id`), SSE ids, `retry:`, `Last-Event-ID`
and `?after=` resumes, 204 for a reply the client has whole, `?token=` on the resume route (never
logged), WebSocket `seq` and `resume` after a `seq`."""
from __future__ import annotations

import io
import json
import logging
import re
import threading
import uuid

import pytest
import requests
import websocket

from config.logging_setup import JsonFormatter
from tests.support.mock_provider import tokens
from tests.support.streams import parse_events, served

WORDS = " ".join(f"w{n}" for n in range(40))  # 40 streamed tokens: 40 deltas
PARTS = tokens(WORDS)


@pytest.fixture
def settings_overrides():
    return {"stream_keepalive_s": 0.3, "chat_flush_interval_s": 0.05}


@pytest.fixture
def alice(api):
    return api.register(name="Alice")


@pytest.fixture
def talk(api, alice):
    return api.request("post", "/api/v1/talks", alice, json={"name": "Streams"}).get_json()


def send(api, session, talk_id, key=None, **body):
    headers = {"Idempotency-Key": key} if key else {}
    return api.request("post", f"/api/v1/talks/{talk_id}/messages", session, headers=headers,
                       json={"content": "hello", **body})


def messages_of(api, session, talk_id) -> list[dict]:
    return api.request("get", f"/api/v1/talks/{talk_id}/messages", session).get_json()["items"]


def resume(client, session, talk_id, message_id, last_event_id=None, query=""):
    headers = dict(session.headers) if session else {}
    if last_event_id is not None:
        headers["Last-Event-ID"] = str(last_event_id)
    return client.get(f"/api/v1/talks/{talk_id}/messages/{message_id}/stream{query}",
                      headers=headers)


def deltas_text(events) -> str:
    return "".join(event.data["content"] for event in events if event.name == "delta")


def assert_rest_after(events, after: int, end_id: str) -> None:
    """`events` are what follows event `after` of a reply of PARTS: its text after delta `after`
    (as the deltas themselves while the reply is still in the generating process, else as one
    delta holding them), ids rising from above `after` to the last delta's, then `done`."""
    assert deltas_text(events) == "".join(PARTS[after:])
    ids = [int(event.id) for event in events]
    assert ids == sorted(ids) and ids[0] > after
    assert [e.name for e in events][-1] == "done" and events[-1].id == end_id
    assert int(events[-2].id) == len(PARTS)


# --- item 1: retries never duplicate --------------------------------------------------------

def test_a_retried_send_with_an_idempotency_key_stores_one_exchange_and_gets_the_same_answer(
        api, alice, talk, mock_provider):
    first = send(api, alice, talk["id"], key="send-1")
    again = send(api, alice, talk["id"], key="send-1")
    assert first.status_code == again.status_code == 201
    assert again.get_json() == first.get_json()
    assert again.headers["Idempotent-Replayed"] == "true"
    assert len(messages_of(api, alice, talk["id"])) == 2
    assert len(mock_provider.requests) == 1  # the model was called once


def test_client_message_id_in_the_body_is_the_key_and_is_no_longer_refused(
        api, alice, talk, mock_provider):
    first = send(api, alice, talk["id"], client_message_id="cm-1")
    again = send(api, alice, talk["id"], client_message_id="cm-1")
    assert first.status_code == 201, first.get_json()
    assert again.get_json() == first.get_json()
    assert len(messages_of(api, alice, talk["id"])) == 2
    # the header and the body field name one key
    assert send(api, alice, talk["id"], key="cm-1").get_json() == first.get_json()
    refused = send(api, alice, talk["id"], key="other", client_message_id="cm-1")
    assert refused.status_code == 422


def test_the_same_key_with_another_body_is_an_idempotency_conflict_and_stores_nothing(
        api, alice, talk, mock_provider):
    assert send(api, alice, talk["id"], key="k").status_code == 201
    conflict = send(api, alice, talk["id"], key="k", content="something else")
    assert conflict.status_code == 409
    assert conflict.get_json()["error"]["code"] == "idempotency_conflict"
    assert len(messages_of(api, alice, talk["id"])) == 2


def test_keys_are_per_user(api, alice, talk, mock_provider):
    bob = api.register(name="Bob")
    bobs = api.request("post", "/api/v1/talks", bob, json={}).get_json()
    assert send(api, alice, talk["id"], key="shared").status_code == 201
    assert send(api, bob, bobs["id"], key="shared").status_code == 201
    assert len(messages_of(api, bob, bobs["id"])) == 2


def test_a_refused_send_releases_its_key(api, alice, talk, mock_provider):
    refused = send(api, alice, talk["id"], key="k", model="no/such-model")
    assert refused.status_code == 422
    assert send(api, alice, talk["id"], key="k", model="no/such-model").status_code == 422
    assert send(api, alice, talk["id"], key="k").status_code == 201  # used again, for real


def test_a_failed_reply_is_kept_too_a_retry_does_not_store_a_second_user_message(
        api, alice, talk, mock_provider):
    mock_provider.behave(None, status=500)
    first = send(api, alice, talk["id"], key="k")
    assert first.status_code == 502
    mock_provider.behave(None, status=None)
    again = send(api, alice, talk["id"], key="k")
    assert (again.status_code, again.get_json()) == (502, first.get_json())
    assert [m["role"] for m in messages_of(api, alice, talk["id"])] == ["user", "assistant"]


def test_concurrent_repeats_of_one_send_run_it_once(app, api, alice, talk, mock_provider):
    mock_provider.behave(None, reply=WORDS)
    answers: list[requests.Response] = []
    with served(app) as base:
        def post():
            answers.append(requests.post(
                f"{base}/api/v1/talks/{talk['id']}/messages", timeout=30,
                headers={**alice.headers, "Idempotency-Key": "burst"}, json={"content": "hi"}))

        threads = [threading.Thread(target=post) for _ in range(6)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    assert len(mock_provider.requests) == 1
    assert len(messages_of(api, alice, talk["id"])) == 2
    created = [answer.json() for answer in answers if answer.status_code == 201]
    assert created and all(body == created[0] for body in created)
    assert all(answer.status_code in (201, 409) for answer in answers)
    assert all(answer.json()["error"]["code"] == "idempotency_conflict"
               for answer in answers if answer.status_code == 409)


def test_a_retried_streamed_send_resumes_the_first_reply_instead_of_sending_again(
        api, client, alice, talk, mock_provider):
    mock_provider.behave(None, reply=WORDS)
    body = {"content": "go", "stream": True}
    headers = {**alice.headers, "Idempotency-Key": "stream-1"}
    first = client.post(f"/api/v1/talks/{talk['id']}/messages", json=body, headers=headers)
    _, events = parse_events(first.get_data(as_text=True))
    again = client.post(f"/api/v1/talks/{talk['id']}/messages", json=body, headers=headers)
    _, replayed = parse_events(again.get_data(as_text=True))
    assert again.headers["Idempotent-Replayed"] == "true"
    assert [e.name for e in replayed][:2] == ["user_message", "start"]
    assert replayed[0].data["id"] == events[0].data["id"]
    assert replayed[-1].data["message"] == events[-1].data["message"]
    assert deltas_text(replayed) == WORDS
    assert replayed[-1].id == events[-1].id  # the same numbering as the first stream
    # fetch-event-source retries with the last id it saw: only what came after it
    after = client.post(f"/api/v1/talks/{talk['id']}/messages", json=body,
                        headers={**headers, "Last-Event-ID": "30"})
    _, rest = parse_events(after.get_data(as_text=True))
    assert_rest_after(rest, 30, events[-1].id)
    ended = client.post(f"/api/v1/talks/{talk['id']}/messages", json=body,
                        headers={**headers, "Last-Event-ID": events[-1].id})
    assert ended.status_code == 204
    assert len(mock_provider.requests) == 1
    assert len(messages_of(api, alice, talk["id"])) == 2


@pytest.mark.parametrize("path, body, count_path", [
    ("/api/v1/talks", {"name": "once"}, "/api/v1/talks"),
    ("/api/v1/workspaces", {"name": "once"}, "/api/v1/workspaces"),
])
def test_other_creating_routes_create_once_per_key(api, alice, path, body, count_path):
    before = api.request("get", count_path, alice).get_json()["total"]
    headers = {"Idempotency-Key": f"create-{uuid.uuid4().hex}"}
    first = api.request("post", path, alice, json=body, headers=headers)
    again = api.request("post", path, alice, json=body, headers=headers)
    assert first.status_code == again.status_code == 201
    assert again.get_json()["id"] == first.get_json()["id"]
    assert api.request("get", count_path, alice).get_json()["total"] == before + 1
    with_body_key = api.request("post", path, alice, json={**body, "client_message_id": "c"})
    assert with_body_key.status_code == 201


def test_a_new_api_key_is_created_once_and_its_secret_is_kept_encrypted_for_the_repeat(
        api, alice, db):
    workspace = api.personal_workspace(alice)
    headers = {"Idempotency-Key": "key-once"}
    path = f"/api/v1/workspaces/{workspace}/api-keys"
    first = api.request("post", path, alice, json={"name": "ci"}, headers=headers)
    again = api.request("post", path, alice, json={"name": "ci"}, headers=headers)
    assert first.status_code == again.status_code == 201
    assert again.get_json()["key"] == first.get_json()["key"]
    assert len(api.request("get", path, alice).get_json()) == 1
    kept = [str(doc) for doc in db["idempotency_keys"].find({})]
    assert kept and not any(first.get_json()["key"] in doc for doc in kept)


def test_an_upload_with_a_key_stores_one_file_and_another_file_under_the_key_is_a_conflict(
        api, client, alice):
    def upload(content: bytes, key: str = "up-1", path: str = "/api/v1/files/upload",
               **fields):
        return client.post(path, headers={**alice.headers, "Idempotency-Key": key},
                           content_type="multipart/form-data",
                           data={"file": (io.BytesIO(content), "notes.txt"), **fields})

    first, again = upload(b"one\n", category="doc"), upload(b"one\n", category="doc")
    assert first.status_code == again.status_code == 201, first.get_json()
    assert again.get_json() == first.get_json()
    assert api.request("get", "/api/v1/files", alice).get_json()["total"] == 1
    other = upload(b"two\n", category="doc")
    assert other.status_code == 409
    assert other.get_json()["error"]["code"] == "idempotency_conflict"
    versions = f"/api/v1/files/{first.get_json()['id']}/versions"
    added = [upload(b"three\n", "v-1", versions) for _ in range(2)]
    assert [a.status_code for a in added] == [201, 201]
    assert added[0].get_json()["version"] == added[1].get_json()["version"] == 2


def test_chatai_message_and_talk_routes_send_once_per_key(api, alice, talk, mock_provider):
    headers = {"Idempotency-Key": "chatai"}
    body = {"talk_id": talk["id"], "content": "hi"}
    first = api.request("post", "/api/message", alice, json=body, headers=headers)
    again = api.request("post", "/api/message", alice, json=body, headers=headers)
    assert first.status_code == 201 and again.get_json() == first.get_json()
    opened = api.request("post", "/api/talk", alice, json={"message": "new", "client_message_id": "t"})
    reopened = api.request("post", "/api/talk", alice, json={"message": "new", "client_message_id": "t"})
    assert reopened.get_json()["talk"]["id"] == opened.get_json()["talk"]["id"]
    assert len(mock_provider.requests) == 2


def test_direct_model_calls_are_not_repeated_for_a_key_streamed_or_not(
        api, client, alice, mock_provider):
    mock_provider.behave(None, reply=WORDS)
    body = {"messages": [{"role": "user", "content": "hi"}]}
    headers = {**alice.headers, "Idempotency-Key": "llm"}
    first = client.post("/api/v1/llm/chat", json=body, headers=headers)
    again = client.post("/api/v1/llm/chat", json=body, headers=headers)
    assert again.get_json() == first.get_json()
    stream_headers = {**alice.headers, "Idempotency-Key": "llm-stream"}
    streamed = client.post("/api/v1/llm/chat", json={**body, "stream": True}, headers=stream_headers)
    retry, events = parse_events(streamed.get_data(as_text=True))
    assert retry == 3000
    assert [e.id for e in events] == [str(n) for n in range(len(PARTS) + 2)]
    replayed = client.post("/api/v1/llm/chat", json={**body, "stream": True},
                           headers={**stream_headers, "Last-Event-ID": "10"})
    _, rest = parse_events(replayed.get_data(as_text=True))
    assert deltas_text(rest) == "".join(PARTS[10:])
    assert rest[-1].data == events[-1].data and rest[-1].id == events[-1].id
    assert len(mock_provider.requests) == 2


def test_openai_completions_are_not_repeated_for_a_key_streamed_or_not(
        api, client, alice, mock_provider):
    mock_provider.behave(None, reply=WORDS)
    body = {"messages": [{"role": "user", "content": "hi"}]}
    headers = {**alice.headers, "Idempotency-Key": "v1"}
    first = client.post("/v1/chat/completions", json=body, headers=headers)
    again = client.post("/v1/chat/completions", json=body, headers=headers)
    assert first.status_code == 200 and again.get_json() == first.get_json()
    conflict = client.post("/v1/chat/completions", json={**body, "temperature": 1}, headers=headers)
    assert conflict.status_code == 409
    assert conflict.get_json()["error"]["code"] == "idempotency_conflict"
    stream = {**body, "stream": True, "stream_options": {"include_usage": True}}
    stream_headers = {**alice.headers, "Idempotency-Key": "v1-stream"}
    chunks = [client.post("/v1/chat/completions", json=stream, headers=stream_headers)
              .get_data(as_text=True) for _ in range(2)]
    texts = []
    for text in chunks:
        lines = [line[6:] for line in text.splitlines() if line.startswith("data: ")]
        assert lines[-1] == "[DONE]"
        parsed = [json.loads(line) for line in lines[:-1]]
        texts.append("".join(c["choices"][0]["delta"].get("content") or ""
                             for c in parsed if c["choices"]))
        assert parsed[-1]["usage"]["completion_tokens"] == len(PARTS)
    assert texts == [WORDS, WORDS]
    assert len(mock_provider.requests) == 2


def test_a_workflow_run_starts_once_per_key(api, alice):
    workflow = api.request("post", "/api/v1/workflows", alice, json={
        "name": "once", "nodes": [{"id": "in", "type": "input", "config": {"fields": []}},
                                  {"id": "out", "type": "output", "config": {}}],
        "edges": [{"source": "in", "target": "out"}]}).get_json()
    headers = {"Idempotency-Key": "run"}
    path = f"/api/v1/workflows/{workflow['id']}/execute"
    first = api.request("post", path, alice, json={"inputs": {}}, headers=headers)
    again = api.request("post", path, alice, json={"inputs": {}}, headers=headers)
    assert first.status_code in (200, 202), first.get_json()
    assert again.get_json()["id"] == first.get_json()["id"]
    assert again.headers["Location"] == first.headers["Location"]
    runs = api.request("get", f"/api/v1/workflows/{workflow['id']}/executions", alice).get_json()
    assert runs["total"] == 1


def test_browsers_may_send_the_key_and_read_whether_an_answer_was_replayed(client):
    origin = {"Origin": "http://localhost:3000"}
    preflight = client.options("/api/v1/talks", headers={
        **origin, "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "authorization, content-type, idempotency-key"})
    allowed = preflight.headers.get("Access-Control-Allow-Headers", "").lower()
    assert "idempotency-key" in allowed
    exposed = client.get("/api/v1/health", headers=origin).headers.get(
        "Access-Control-Expose-Headers", "").lower()
    assert "idempotent-replayed" in exposed


def test_the_idempotency_key_header_is_in_the_openapi_document(client):
    spec = client.get("/openapi.json").get_json()
    for path, method in [("/api/v1/talks/{talk_id}/messages", "post"),
                         ("/api/v1/llm/chat", "post"), ("/v1/chat/completions", "post"),
                         ("/api/v1/workflows/{workflow_id}/execute", "post"),
                         ("/api/message", "post")]:
        names = [p.get("name") for p in spec["paths"][path][method].get("parameters", [])]
        assert "Idempotency-Key" in names, (path, names)


# --- item 2: streams resume where they stopped -------------------------------------------------

def streamed_reply(api, client, alice, talk):
    response = client.post(f"/api/v1/talks/{talk['id']}/messages", headers=alice.headers,
                           json={"content": "go", "stream": True})
    return parse_events(response.get_data(as_text=True))


def test_every_sse_event_has_an_id_and_the_stream_opens_with_retry(
        api, client, alice, talk, mock_provider):
    mock_provider.behave(None, reply=WORDS)
    retry, events = streamed_reply(api, client, alice, talk)
    assert retry == 3000
    assert [(e.name, e.id) for e in events[:2]] == [("user_message", "0"), ("start", "0")]
    assert [e.id for e in events[2:]] == [str(n) for n in range(1, len(PARTS) + 2)]
    assert events[-1].name == "done"


def test_a_resume_after_20_deltas_replays_only_what_came_after(
        api, client, alice, talk, mock_provider):
    mock_provider.behave(None, reply=WORDS)
    _, events = streamed_reply(api, client, alice, talk)
    message_id, end = events[1].data["message_id"], events[-1].id
    for response in (resume(client, alice, talk["id"], message_id, last_event_id=20),
                     resume(client, alice, talk["id"], message_id, query="?after=20")):
        retry, rest = parse_events(response.get_data(as_text=True))
        assert retry == 3000
        assert_rest_after(rest, 20, end)
    only_done = parse_events(resume(client, alice, talk["id"], message_id,
                                    last_event_id=len(PARTS)).get_data(as_text=True))[1]
    assert [(e.name, e.id) for e in only_done] == [("done", end)]


def test_the_greater_of_last_event_id_and_after_counts(api, client, alice, talk, mock_provider):
    mock_provider.behave(None, reply=WORDS)
    _, events = streamed_reply(api, client, alice, talk)
    message_id = events[1].data["message_id"]
    response = resume(client, alice, talk["id"], message_id, last_event_id=35, query="?after=5")
    assert deltas_text(parse_events(response.get_data(as_text=True))[1]) == "".join(PARTS[35:])
    assert resume(client, alice, talk["id"], message_id, query="?after=-1").status_code == 422


def test_a_last_event_id_that_is_not_an_ascii_sequence_number_resumes_from_the_start(
        api, client, alice, talk, mock_provider):
    """Latin-1 header values that str.isdigit() takes ("²", "¹²") were a 500 from int()."""
    mock_provider.behave(None, reply=WORDS)
    _, events = streamed_reply(api, client, alice, talk)
    message_id = events[1].data["message_id"]
    for bad in ("\u00b2", "\u00b9\u00b2", "-1", "1.5", "abc", "9" * 40):
        response = resume(client, alice, talk["id"], message_id, last_event_id=bad)
        assert response.status_code == 200, bad
        assert deltas_text(parse_events(response.get_data(as_text=True))[1]) == WORDS


def test_a_resume_of_an_ended_reply_at_its_end_is_204(api, client, alice, talk, mock_provider):
    _, events = streamed_reply(api, client, alice, talk)
    message_id, end = events[1].data["message_id"], int(events[-1].id)
    for last in (end, end + 5):
        response = resume(client, alice, talk["id"], message_id, last_event_id=last)
        assert response.status_code == 204 and response.get_data() == b""


def test_an_event_source_gets_a_finished_reply_once_then_stops(api, client, alice, talk,
                                                              mock_provider):
    """What a browser's EventSource does: connect, read to the end, reconnect with the last id
    it saw; a 204 ends it for good (before, it replayed the whole reply every time)."""
    mock_provider.behave(None, reply=WORDS)
    _, events = streamed_reply(api, client, alice, talk)
    url_query = f"?token={alice.access_token}"
    message_id, received, last_id, connections = events[1].data["message_id"], [], None, 0
    while connections < 5:
        connections += 1
        response = resume(client, None, talk["id"], message_id, last_event_id=last_id,
                          query=url_query)
        if response.status_code == 204:
            break
        assert response.status_code == 200
        _, got = parse_events(response.get_data(as_text=True))
        received += got
        last_id = got[-1].id
    assert connections == 2
    assert deltas_text(received) == WORDS and [e.name for e in received].count("done") == 1


def test_the_resume_route_takes_a_token_in_the_query_under_the_websocket_rules(
        api, client, alice, talk, mock_provider):
    _, events = streamed_reply(api, client, alice, talk)
    message_id = events[1].data["message_id"]
    ok = resume(client, None, talk["id"], message_id, query=f"?token={alice.access_token}")
    assert ok.status_code == 200
    for bad in ("junk", alice.refresh_token):
        refused = resume(client, None, talk["id"], message_id, query=f"?token={bad}")
        assert refused.status_code == 401 and refused.get_json()["error"]["code"] == "unauthorized"
    assert resume(client, None, talk["id"], message_id).status_code == 401
    api.request("post", "/api/v1/auth/logout", alice)
    revoked = resume(client, None, talk["id"], message_id, query=f"?token={alice.access_token}")
    assert revoked.status_code == 401
    bob = api.register(name="Bob")
    hidden = resume(client, None, talk["id"], message_id, query=f"?token={bob.access_token}")
    assert hidden.status_code == 404


def test_a_token_in_the_query_never_reaches_a_log(app, api, alice, talk, mock_provider):
    _, events = streamed_reply(api, app.test_client(), alice, talk)
    message_id = events[1].data["message_id"]
    lines = io.StringIO()
    handler = logging.StreamHandler(lines)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.addHandler(handler)
    level, root.level = root.level, logging.INFO
    try:
        with served(app) as base:  # werkzeug's server logs every request line
            response = requests.get(
                f"{base}/api/v1/talks/{talk['id']}/messages/{message_id}/stream"
                f"?token={alice.access_token}", timeout=10)
            assert response.status_code == 200
            refused = requests.get(f"{base}/api/v1/ws/talks/{talk['id']}?token=x{alice.access_token}",
                                   timeout=10)
            assert refused.status_code in (400, 404, 405)
    finally:
        root.removeHandler(handler)
        root.level = level
    text = lines.getvalue()
    assert "/stream?token=[redacted]" in text  # the request was logged, without its token
    assert alice.access_token not in text
    assert not re.search(r"token=(?!\[redacted\])", text)


# --- WebSocket: seq and resume after ---------------------------------------------------------

@pytest.fixture
def ws_base(app):
    with served(app) as url:
        yield url.replace("http://", "ws://")


def frames_until(ws, kind: str) -> list[dict]:
    frames = []
    while True:
        frame = json.loads(ws.recv())
        frames.append(frame)
        if frame["type"] in (kind, "error"):
            return frames


def test_websocket_frames_carry_seq_and_a_resume_after_a_seq_sends_only_the_rest(
        ws_base, alice, talk, mock_provider):
    mock_provider.behave(None, reply=WORDS)
    url = f"{ws_base}/api/v1/ws/talks/{talk['id']}?token={alice.access_token}"
    ws = websocket.create_connection(url, timeout=10)
    try:
        ws.send(json.dumps({"type": "message", "content": "go", "client_message_id": "ws-1"}))
        frames = frames_until(ws, "done")
        assert [(f["type"], f["seq"]) for f in frames[:2]] == [("user_message", 0), ("start", 0)]
        assert [f["seq"] for f in frames[2:]] == list(range(1, len(PARTS) + 2))
        message_id = frames[1]["message_id"]
        ws.send(json.dumps({"type": "resume", "message_id": message_id, "after": 25}))
        rest = frames_until(ws, "done")
        assert "".join(f["content"] for f in rest if f["type"] == "delta") == "".join(PARTS[25:])
        assert rest[0]["seq"] > 25 and rest[-1]["seq"] == frames[-1]["seq"]
        # the same client_message_id again: nothing new is sent, the first reply comes again
        ws.send(json.dumps({"type": "message", "content": "go", "client_message_id": "ws-1"}))
        replayed = frames_until(ws, "done")
        assert replayed[0]["type"] == "user_message" and replayed[0]["id"] == frames[0]["id"]
        assert replayed[-1]["message"]["id"] == message_id
        ws.send(json.dumps({"type": "message", "content": "other", "client_message_id": "ws-1"}))
        assert json.loads(ws.recv())["code"] == "idempotency_conflict"
    finally:
        ws.close()
    assert len(mock_provider.requests) == 1


def test_a_streamed_http_send_repeated_on_the_websocket_with_its_key_is_not_sent_again(
        client, ws_base, alice, talk, mock_provider):
    """The socket's `client_message_id` and the HTTP `Idempotency-Key` of a send are one key."""
    mock_provider.behave(None, reply=WORDS)
    first = client.post(f"/api/v1/talks/{talk['id']}/messages",
                        json={"content": "go", "stream": True},
                        headers={**alice.headers, "Idempotency-Key": "both-ways"})
    _, events = parse_events(first.get_data(as_text=True))
    ws = websocket.create_connection(
        f"{ws_base}/api/v1/ws/talks/{talk['id']}?token={alice.access_token}", timeout=10)
    try:
        ws.send(json.dumps({"type": "message", "content": "go", "client_message_id": "both-ways"}))
        replayed = frames_until(ws, "done")
    finally:
        ws.close()
    assert replayed[0]["id"] == events[0].data["id"]
    assert replayed[-1]["message"]["id"] == events[-1].data["message"]["id"]
    assert len(mock_provider.requests) == 1


def test_a_streamed_response_repeated_with_its_key_is_replayed_not_made_again(
        client, db, alice, mock_provider):
    """POST /v1/responses with `stream: true`: a repeat gets the first response's events (its
    text as one delta) from the kept Response: no second model call, no second stored response."""
    mock_provider.behave(None, reply=WORDS)
    headers = {**alice.headers, "Idempotency-Key": "responses-stream"}
    finals, texts, replayed = [], [], []
    for _ in range(2):
        response = client.post("/v1/responses", json={"input": "hi", "stream": True},
                               headers=headers)
        replayed.append(response.headers.get("Idempotent-Replayed"))
        _, events = parse_events(response.get_data(as_text=True))
        assert [e.name for e in events][:2] == ["response.created", "response.in_progress"]
        texts.append("".join(e.data["delta"] for e in events
                             if e.name == "response.output_text.delta"))
        finals.append(events[-1])
    assert texts == [WORDS, WORDS] and replayed == [None, "true"]
    assert finals[0].name == finals[1].name == "response.completed"
    assert finals[1].data["response"] == finals[0].data["response"]
    assert len(mock_provider.requests) == 1
    assert db["responses"].count_documents({}) == 1


def test_a_streamed_text_completion_repeated_with_its_key_is_replayed_not_made_again(
        client, alice, mock_provider):
    """POST /v1/completions with `stream: true`: a repeat gets the first completion's chunks
    (its text as one chunk, the same id and usage) without a second model call."""
    mock_provider.behave(None, reply=WORDS)
    headers = {**alice.headers, "Idempotency-Key": "completions-stream"}
    body = {"prompt": "hi", "stream": True, "max_tokens": 100,
            "stream_options": {"include_usage": True}}
    runs = []
    for _ in range(2):
        response = client.post("/v1/completions", json=body, headers=headers)
        lines = [line[6:] for line in response.get_data(as_text=True).splitlines()
                 if line.startswith("data: ")]
        assert lines[-1] == "[DONE]"
        chunks = [json.loads(line) for line in lines[:-1]]
        runs.append((response.headers.get("Idempotent-Replayed"),
                     "".join(c["choices"][0]["text"] for c in chunks if c["choices"]),
                     {c["id"] for c in chunks}, chunks[-1]["usage"]))
    assert [run[0] for run in runs] == [None, "true"]
    assert runs[0][1:] == runs[1][1:] and runs[0][1] == WORDS and len(runs[0][2]) == 1
    assert len(mock_provider.requests) == 1
