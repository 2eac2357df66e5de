"""The talk WebSocket against a real server: send, stream, stop, resume, and its refusals."""
from __future__ import annotations

import json

import pytest
import websocket

from tests.support.fixtures import MOCK_DEFAULT_MODEL
from tests.support.streams import served

WORDS = " ".join(f"w{n}" for n in range(30))


@pytest.fixture
def ws_base(app):
    with served(app) as url:
        yield url.replace("http://", "ws://")


@pytest.fixture
def alice(api):
    return api.register(name="Alice")


@pytest.fixture
def talk(api, alice):
    return api.request("post", "/api/v1/talks", alice, json={"name": "Socket"}).get_json()


def connect(ws_base, talk_id, token):
    return websocket.create_connection(f"{ws_base}/api/v1/ws/talks/{talk_id}?token={token}",
                                       timeout=15)


def close_code(ws) -> int:
    """The code of the close frame the server sends next."""
    opcode, data = ws.recv_data(control_frame=True)
    assert opcode == websocket.ABNF.OPCODE_CLOSE
    return int.from_bytes(data[:2], "big")


def receive_until(ws, kind):
    frames = []
    while True:
        frame = json.loads(ws.recv())
        frames.append(frame)
        if frame["type"] == kind or frame["type"] == "error":
            return frames


def test_a_message_sent_over_the_socket_streams_its_reply(ws_base, alice, talk, mock_provider):
    mock_provider.behave(None, reply="socket reply here")
    ws = connect(ws_base, talk["id"], alice.access_token)
    try:
        ws.send(json.dumps({"type": "message", "content": "hello socket"}))
        frames = receive_until(ws, "done")
    finally:
        ws.close()
    kinds = [f["type"] for f in frames]
    assert kinds[:2] == ["user_message", "start"] and kinds[-1] == "done"
    assert frames[0]["content"] == "hello socket" and frames[0]["role"] == "user"
    assert frames[1]["model"] == MOCK_DEFAULT_MODEL
    assert "".join(f["content"] for f in frames if f["type"] == "delta") == "socket reply here"
    assert frames[-1]["message"]["status"] == "complete"
    assert frames[-1]["message"]["id"] == frames[1]["message_id"]


def test_stop_over_the_socket_saves_a_partial_reply(ws_base, alice, talk, mock_provider):
    mock_provider.behave(None, reply=WORDS, token_delay=0.05)
    ws = connect(ws_base, talk["id"], alice.access_token)
    try:
        ws.send(json.dumps({"type": "message", "content": "long one"}))
        receive_until(ws, "delta")
        ws.send(json.dumps({"type": "stop"}))
        done = receive_until(ws, "done")[-1]
    finally:
        ws.close()
    assert done["type"] == "done"
    assert done["message"]["status"] == "stopped"
    assert 0 < len(done["message"]["content"]) < len(WORDS)


def test_resume_over_a_new_socket_returns_the_full_text(ws_base, alice, talk, mock_provider):
    mock_provider.behave(None, reply=WORDS, token_delay=0.03)
    first = connect(ws_base, talk["id"], alice.access_token)
    first.send(json.dumps({"type": "message", "content": "resume me"}))
    start = receive_until(first, "start")[-1]
    receive_until(first, "delta")
    first.close()  # dropped connection
    second = connect(ws_base, talk["id"], alice.access_token)
    try:
        second.send(json.dumps({"type": "resume", "message_id": start["message_id"]}))
        frames = receive_until(second, "done")
    finally:
        second.close()
    assert frames[0] == {"type": "start", "seq": 0, "message_id": start["message_id"],
                         "model": MOCK_DEFAULT_MODEL}
    assert "".join(f["content"] for f in frames if f["type"] == "delta") == WORDS
    assert frames[-1]["message"]["content"] == WORDS


def test_bad_frames_get_error_frames_and_the_socket_stays_open(ws_base, alice, talk,
                                                              mock_provider):
    ws = connect(ws_base, talk["id"], alice.access_token)
    try:
        ws.send("not json")
        assert json.loads(ws.recv())["code"] == "bad_request"
        ws.send(json.dumps({"type": "dance"}))
        assert json.loads(ws.recv())["code"] == "bad_request"
        ws.send(json.dumps({"type": "message", "content": "", "extra": 1}))
        error = json.loads(ws.recv())
        assert error["code"] == "validation_error" and {"content", "extra"} <= set(error["details"])
        ws.send(json.dumps({"type": "resume", "message_id": "0" * 24}))
        assert json.loads(ws.recv())["code"] == "not_found"
        ws.send(json.dumps({"type": "message", "content": "still here"}))
        assert receive_until(ws, "done")[-1]["type"] == "done"
    finally:
        ws.close()


def test_a_bad_token_closes_with_4401(ws_base, talk):
    ws = connect(ws_base, talk["id"], "not-a-token")
    assert close_code(ws) == 4401


def test_a_talk_of_someone_else_closes_with_4404(ws_base, api, talk):
    mallory = api.register(name="Mallory")
    ws = connect(ws_base, talk["id"], mallory.access_token)
    assert close_code(ws) == 4404
    ws = connect(ws_base, "0" * 24, mallory.access_token)
    assert close_code(ws) == 4404
