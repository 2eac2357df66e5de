"""The app with its default catalogue and no provider key: it starts the local model server
itself, and a crash of that server costs only the replies in flight."""
from __future__ import annotations

import os
import signal
import time

import pytest

from adapters.embedded_mongo import free_port
from tests.support.streams import iter_sse, served

pytestmark = pytest.mark.local_model

PROVIDER_VARIABLES = ("OPENAI_API_KEY", "ANTHROPIC_API_KEY", "GOOGLE_API_KEY", "OLLAMA_API_BASE",
                      "LOCAL_MODEL_URL")


@pytest.fixture
def settings_overrides(tmp_path, monkeypatch):
    for variable in PROVIDER_VARIABLES:
        monkeypatch.delenv(variable, raising=False)
    return {"models_config": "config/models.yaml", "default_model": "",
            "local_model_path": str(tmp_path / "local-model"), "local_model_port": free_port(),
            "chat_flush_interval_s": 0.05}


def local_model(api) -> dict:
    return api.client.get("/api/health").get_json()["local_model"]


def wait_until_up(api, timeout_s: float = 30.0, not_pid: int | None = None) -> dict:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        report = local_model(api)
        if report["status"] == "up" and report["pid"] != not_pid:
            return report
        time.sleep(0.1)
    raise AssertionError(f"the local model server is not up: {report}")


def test_the_app_starts_the_local_model_and_reports_it(api):
    report = wait_until_up(api)

    assert report["model"] == "local/smollm2" and report["restarts"] == 0
    assert report["pid"] != os.getpid()  # its own process, not this one
    session = api.register()
    talk = api.request("post", "/api/v1/talks", session, json={}).get_json()
    sent = api.request("post", f"/api/v1/talks/{talk['id']}/messages", session,
                       json={"content": "What is the capital of France?", "max_tokens": 24})
    assert sent.status_code == 201
    reply = sent.get_json()["assistant_message"]
    assert reply["model"] == "local/smollm2" and reply["content"].strip()


def test_a_model_server_killed_mid_stream_fails_that_reply_and_the_next_one_is_answered(app, api):
    import requests

    crashed = wait_until_up(api)["pid"]
    session = api.register()
    talk = api.request("post", "/api/v1/talks", session, json={}).get_json()
    with served(app) as base:
        response = requests.post(f"{base}/api/v1/talks/{talk['id']}/messages", stream=True,
                                 headers=session.headers, timeout=60,
                                 json={"content": "Tell me a long story about the sea.",
                                       "stream": True, "max_tokens": 400})
        events = iter_sse(response.iter_lines(decode_unicode=True))
        for name, _data in events:
            if name == "delta":
                os.kill(crashed, signal.SIGKILL)
                break
        rest = [name for name, _data in events]
        assert rest[-1] == "error"
        assert requests.get(f"{base}/health", timeout=5).status_code == 200

    history = api.request("get", f"/api/v1/talks/{talk['id']}/messages", session).get_json()["items"]
    assert [m["role"] for m in history] == ["user", "assistant"]
    assert history[0]["content"] == "Tell me a long story about the sea."
    assert history[1]["status"] == "failed" and history[1]["error"]

    started = time.monotonic()
    report = wait_until_up(api, not_pid=crashed)
    answered = api.request("post", f"/api/v1/talks/{talk['id']}/messages", session,
                           json={"content": "What is the capital of France?", "max_tokens": 24})
    assert answered.status_code == 201 and answered.get_json()["assistant_message"]["content"]
    assert time.monotonic() - started < 30
    assert report["restarts"] == 1
