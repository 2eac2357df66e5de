"""OWASP API10:2023 Unsafe Consumption of APIs.

The model provider is a third-party API: when it answers junk (not JSON), JSON of the wrong
shape, an error status, a reply larger than the limit, or nothing at all (hangs past the
timeout), every face answers 502/504 in its own error shape — never a 500, never the provider's
raw body — and what the user typed is kept, with the assistant message marked failed.
"""
from __future__ import annotations

import pytest

from tests.support.fixtures import shared_mock_provider
from tests.support.streams import parse_sse

MAX_REPLY = 2000
TIMEOUT_S = 1.0
FAILURES = {
    "junk": ({"junk": True}, 502),
    "wrong shape": ({"body": '{"unexpected": ["shape"], "choices": "no"}'}, 502),
    "server error": ({"status": 500}, 502),
    "huge reply": ({"reply": "word " * MAX_REPLY}, 502),
    "hang": ({"hang": TIMEOUT_S * 5}, 504),
}


@pytest.fixture
def settings_overrides(tmp_path, mock_provider_server) -> dict:
    catalogue = shared_mock_provider().write_catalogue(tmp_path / "models.yaml",
                                                       timeout=TIMEOUT_S, num_retries=0)
    return {"models_config": str(catalogue), "llm_max_reply_chars": MAX_REPLY,
            "llm_timeout_s": TIMEOUT_S}


@pytest.fixture
def failing(mock_provider, request):
    behaviour, status = FAILURES[request.param]
    mock_provider.behave(None, **behaviour)
    return status


def assert_clean_error(response, status: int) -> None:
    assert response.status_code == status, response.get_data(as_text=True)[:300]
    text = response.get_data(as_text=True)
    assert "<html>" not in text and "unexpected" not in text and "word word" not in text
    assert "Traceback" not in text


@pytest.mark.parametrize("failing", list(FAILURES), indirect=True)
def test_a_talk_keeps_the_users_message_and_marks_the_reply_failed(api, failing):
    session = api.register()
    talk = api.request("POST", "/api/v1/talks", session, json={}).get_json()
    response = api.request("POST", f"/api/v1/talks/{talk['id']}/messages", session,
                           json={"content": "please keep what I typed"})
    assert_clean_error(response, failing)
    assert response.get_json()["error"]["code"] in ("upstream_error", "upstream_timeout")
    stored = api.request("GET", f"/api/v1/talks/{talk['id']}/messages", session).get_json()
    user, assistant = stored["items"]
    assert user["content"] == "please keep what I typed" and user["status"] == "complete"
    assert assistant["status"] == "failed" and assistant["error"]


@pytest.mark.parametrize("failing", list(FAILURES), indirect=True)
def test_a_streamed_reply_ends_with_an_error_event_and_is_stored_failed(api, failing):
    session = api.register()
    talk = api.request("POST", "/api/v1/talks", session, json={}).get_json()
    response = api.request("POST", f"/api/v1/talks/{talk['id']}/messages", session,
                           json={"content": "stream it", "stream": True})
    events = parse_sse(response.get_data(as_text=True))
    assert events[-1][0] == "error", events[-3:]
    assert events[-1][1]["code"] in ("upstream_error", "upstream_timeout")
    stored = api.request("GET", f"/api/v1/talks/{talk['id']}/messages", session).get_json()
    assert [m["status"] for m in stored["items"]] == ["complete", "failed"]


@pytest.mark.parametrize("failing", list(FAILURES), indirect=True)
def test_the_direct_and_chatai_faces_answer_502_or_504(api, failing):
    session = api.register()
    direct = api.request("POST", "/api/v1/llm/chat", session,
                         json={"messages": [{"role": "user", "content": "hi"}]})
    assert_clean_error(direct, failing)
    talk = api.request("POST", "/api/v1/talks", session, json={}).get_json()
    chatai = api.request("POST", "/api/message", session,
                         json={"talk_id": talk["id"], "content": "kept"})
    assert_clean_error(chatai, failing)
    stored = api.request("GET", f"/api/messages-by-talk?talk_id={talk['id']}", session).get_json()
    assert stored[0]["content"] == "kept"


@pytest.mark.parametrize("failing", list(FAILURES), indirect=True)
def test_the_openai_face_answers_in_openais_error_shape(api, failing):
    session = api.register()
    response = api.request("POST", "/v1/chat/completions", session, json={
        "model": "openai/mock-primary", "messages": [{"role": "user", "content": "hi"}]})
    assert_clean_error(response, failing)
    error = response.get_json()["error"]
    assert set(error) >= {"message", "type", "code"}


def test_the_provider_recovering_means_replies_work_again(api, mock_provider):
    mock_provider.behave(None, status=500, times=1)
    session = api.register()
    talk = api.request("POST", "/api/v1/talks", session, json={}).get_json()
    first = api.request("POST", f"/api/v1/talks/{talk['id']}/messages", session,
                        json={"content": "one"})
    assert first.status_code in (201, 502)  # the fallback model may answer
    second = api.request("POST", f"/api/v1/talks/{talk['id']}/messages", session,
                         json={"content": "two"})
    assert second.status_code == 201
    assert second.get_json()["assistant_message"]["content"] == "Echo: two"
