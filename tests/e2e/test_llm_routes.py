"""/api/v1/llm/models and /api/v1/llm/chat against the mock provider."""
from __future__ import annotations

import pytest

from tests.support.fixtures import MOCK_DEFAULT_MODEL, MOCK_FALLBACK_MODEL
from tests.support.mock_provider import PRIMARY
from tests.support.streams import parse_sse


@pytest.fixture
def alice(api):
    return api.register(name="Alice")


def test_models_lists_the_catalogue_with_availability_and_the_default(api, alice):
    response = api.request("get", "/api/v1/llm/models", alice)
    assert response.status_code == 200
    models = {m["id"]: m for m in response.get_json()}
    assert {MOCK_DEFAULT_MODEL, MOCK_FALLBACK_MODEL} <= set(models)
    primary = models[MOCK_DEFAULT_MODEL]
    assert primary["available"] is True and primary["default"] is True
    assert primary["context_window"] == 8192 and primary["input_cost_per_token"] > 0
    assert {"id", "provider", "available", "default", "context_window", "input_cost_per_token",
            "output_cost_per_token"} <= set(primary)


def test_models_of_a_workspace_the_caller_is_not_in_is_404(api, alice):
    bob = api.register()
    workspace = api.personal_workspace(bob)
    response = api.request("get", f"/api/v1/llm/models?workspace_id={workspace}", alice)
    assert response.status_code == 404


def test_chat_answers_with_usage_and_the_model_that_replied(api, alice, mock_provider):
    response = api.request("post", "/api/v1/llm/chat", alice,
                           json={"messages": [{"role": "user", "content": "ping"}]})
    assert response.status_code == 200
    body = response.get_json()
    assert body["message"] == {"role": "assistant", "content": "Echo: ping"}
    assert body["model"] == MOCK_DEFAULT_MODEL and body["fallback_used"] is False
    assert body["usage"]["total_tokens"] > 0 and body["latency_ms"] >= 0


def test_chat_falls_back_and_says_so(api, alice, mock_provider):
    mock_provider.behave(PRIMARY, status=500)
    body = api.request("post", "/api/v1/llm/chat", alice,
                       json={"messages": [{"role": "user", "content": "ping"}]}).get_json()
    assert body["model"] == MOCK_FALLBACK_MODEL and body["fallback_used"] is True


def test_chat_when_every_model_fails_is_502(api, alice, mock_provider):
    mock_provider.behave(None, status=500)
    response = api.request("post", "/api/v1/llm/chat", alice,
                           json={"messages": [{"role": "user", "content": "ping"}]})
    assert response.status_code == 502
    assert response.get_json()["error"]["code"] == "upstream_error"


def test_chat_streams_events(api, alice, mock_provider):
    mock_provider.behave(None, reply="a b c")
    response = api.request("post", "/api/v1/llm/chat", alice,
                           json={"messages": [{"role": "user", "content": "x"}], "stream": True})
    assert response.mimetype == "text/event-stream"
    events = parse_sse(response.get_data(as_text=True))
    assert events[0][0] == "start" and events[-1][0] == "done"
    assert "".join(d["content"] for n, d in events if n == "delta") == "a b c"
    assert events[-1][1]["message"]["content"] == "a b c"


def test_chat_validates_messages(api, alice):
    for body in ({"messages": []}, {"messages": [{"role": "robot", "content": "x"}]},
                 {"messages": [{"role": "user", "content": "x"}], "extra": 1}):
        response = api.request("post", "/api/v1/llm/chat", alice, json=body)
        assert response.status_code == 422, body
