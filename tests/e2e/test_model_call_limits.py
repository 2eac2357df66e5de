"""RATELIMIT_LLM is one budget for every path that calls a model: HTTP sends, WebSocket message
frames and workflow runs (one call per `llm` node) all draw from it, per user."""
from __future__ import annotations

import json

import pytest
import websocket

from tests.support.fixtures import MOCK_DEFAULT_MODEL
from tests.support.mock_provider import PRIMARY
from tests.support.streams import served
from tests.support.workflows import create_workflow, edge, execute, input_node, node

LIMIT = 3


@pytest.fixture
def settings_overrides():
    return {"ratelimit_llm": f"{LIMIT} per minute"}


@pytest.fixture
def alice(api):
    return api.register(name="Alice")


@pytest.fixture
def talk(api, alice):
    return api.request("post", "/api/v1/talks", alice, json={"model": MOCK_DEFAULT_MODEL}).get_json()


def send_until_limited(api, session, talk_id) -> None:
    statuses = [api.request("post", f"/api/v1/talks/{talk_id}/messages", session,
                            json={"content": "hi"}).status_code for _ in range(LIMIT + 1)]
    assert statuses == [201] * LIMIT + [429]


def test_a_socket_message_after_the_limit_gets_a_rate_limited_frame(app, api, alice, talk,
                                                                    mock_provider):
    send_until_limited(api, alice, talk["id"])
    calls = len(mock_provider.calls(PRIMARY))
    with served(app) as base:
        ws = websocket.create_connection(
            f"{base.replace('http', 'ws')}/api/v1/ws/talks/{talk['id']}?token={alice.access_token}",
            timeout=15)
        try:
            ws.send(json.dumps({"type": "message", "content": "one more"}))
            frame = json.loads(ws.recv())
        finally:
            ws.close()

    assert frame["type"] == "error" and frame["code"] == "rate_limited"
    assert len(mock_provider.calls(PRIMARY)) == calls


def test_socket_messages_count_against_the_limit_of_http_sends(app, api, alice, talk, mock_provider):
    with served(app) as base:
        ws = websocket.create_connection(
            f"{base.replace('http', 'ws')}/api/v1/ws/talks/{talk['id']}?token={alice.access_token}",
            timeout=15)
        try:
            for _ in range(LIMIT):
                ws.send(json.dumps({"type": "message", "content": "over the socket"}))
                while json.loads(ws.recv())["type"] not in {"done", "error"}:
                    pass
        finally:
            ws.close()

    response = api.request("post", f"/api/v1/talks/{talk['id']}/messages", alice, json={"content": "hi"})
    assert response.status_code == 429


def test_a_workflow_counts_one_call_per_llm_node(api, alice, mock_provider):
    asks = [node(f"ask{i}", "llm", model=MOCK_DEFAULT_MODEL, prompt="{{ question }}")
            for i in range(LIMIT + 1)]
    workflow = create_workflow(api, alice, {
        "name": "Many asks", "nodes": [input_node("question"), *asks],
        "edges": [edge("start", f"ask{i}") for i in range(LIMIT + 1)]})

    response = execute(api, alice, workflow["id"], {"question": "hi"})

    assert response.status_code == 429
    assert response.get_json()["error"]["code"] == "rate_limited"
    assert mock_provider.calls(PRIMARY) == []
