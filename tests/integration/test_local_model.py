"""The offline SmolLM2 model: llama.cpp's server in its own supervised process, reached through
the gateway like any OpenAI-compatible provider (needs the compiled runtime)."""
from __future__ import annotations

import json
import os
import signal
import threading
import time

import pytest

from adapters.embedded_mongo import free_port
from adapters.llm_gateway import LiteLLMGateway
from adapters.local_model_server import LocalModelHealth, LocalModelServer, ServerOptions, listening
from entities.errors import UpstreamError
from entities.llm import ChatRequest

# Deselect with `-m "not local_model"` on machines without the compiled runtime; CI runs it.
pytestmark = pytest.mark.local_model

LOCAL = "local/smollm2"


def wait_for(condition, timeout_s: float = 30.0):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if value := condition():
            return value
        time.sleep(0.1)
    raise TimeoutError("condition not met in time")


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    local = LocalModelServer(tmp_path_factory.mktemp("local-model"), ServerOptions(port=free_port()))
    local.ensure_running()
    wait_for(lambda: status(local)["status"] == "up")
    yield local
    local.stop()


@pytest.fixture(scope="module")
def gateway(server) -> LiteLLMGateway:
    return LiteLLMGateway("config/models.yaml", environ={"LOCAL_MODEL_URL": server.url}, timeout_s=120)


def ask(content: str, max_tokens: int = 24) -> ChatRequest:
    return ChatRequest(messages=[{"role": "user", "content": content}], model=LOCAL, max_tokens=max_tokens)


def status(server: LocalModelServer) -> dict:
    return LocalModelHealth(server.url, server.state_path)()


def test_without_any_key_the_local_model_is_the_default(gateway):
    assert gateway.default_model({}) == LOCAL
    assert {m.id: m.available for m in gateway.models({})}[LOCAL]


def test_the_local_model_answers_a_chat(gateway):
    result = gateway.complete(ask("What is the capital of France?"))

    assert result.content.strip()
    assert result.model == LOCAL and result.provider == "local" and not result.fallback_used
    assert result.usage.prompt_tokens > 0 and 0 < result.usage.completion_tokens <= 24
    assert result.usage.cost_usd == 0.0


def test_the_local_model_streams_its_answer(gateway):
    chunks = list(gateway.stream(ask("Say hello.")))

    deltas = [c.delta for c in chunks if c.result is None]
    result = chunks[-1].result
    assert len(deltas) > 1 and result.content == "".join(deltas)
    assert 0 < result.usage.completion_tokens <= 24
    assert result.ttft_ms is not None and result.model == LOCAL


def test_concurrent_calls_take_turns_on_the_one_model(gateway):
    results, errors = [], []

    def call():
        try:
            results.append(gateway.complete(ask("Name a colour.")))
        except Exception as exc:
            errors.append(exc)

    threads = [threading.Thread(target=call) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert errors == [] and len(results) == 3


def test_a_concurrent_call_does_not_cut_a_stream_short(gateway):
    stream = gateway.stream(ask("Count from one to twenty in words.", max_tokens=60))
    first = next(stream)
    other = gateway.complete(ask("Name a colour."))  # llama_cpp.server interrupts by default

    rest = list(stream)
    assert first.delta and other.content
    assert rest[-1].result is not None and rest[-1].result.finish_reason in {"stop", "length"}


def test_the_health_report_names_the_supervised_process(server):
    report = status(server)

    assert report["status"] == "up" and report["model"] == LOCAL
    assert report["pid"] == server.process.pid and report["restarts"] == 0


def test_a_crashed_server_fails_the_call_in_flight_and_is_started_again(server, gateway):
    stream = gateway.stream(ask("Write a long story about a lighthouse.", max_tokens=400))
    assert next(stream).delta
    crashed = server.process.pid
    os.kill(crashed, signal.SIGKILL)

    with pytest.raises(UpstreamError):
        list(stream)
    report = wait_for(lambda: (r := status(server))["status"] == "up" and r["pid"] != crashed and r)
    assert report["restarts"] == 1
    assert gateway.complete(ask("What is the capital of France?")).content.strip()


def test_a_second_process_uses_the_running_server_instead_of_starting_one(server):
    other = LocalModelServer(server.state_path, server.options)

    assert other.ensure_running() == server.url
    assert not other.supervising
    other.stop()  # a no-op: it supervises nothing
    assert listening(server.url)


def test_an_external_server_is_reported_by_probe_only(server, tmp_path):
    report = LocalModelHealth(server.url, tmp_path)()  # no status file of ours there

    assert report == {"status": "up", "pid": None, "model": LOCAL, "restarts": None}
    closed = f"http://127.0.0.1:{free_port()}/v1"
    assert LocalModelHealth(closed, tmp_path)()["status"] == "down"


def test_stopping_the_supervisor_stops_the_server_and_says_so(tmp_path):
    local = LocalModelServer(tmp_path, ServerOptions(port=free_port()))
    local.ensure_running()
    wait_for(lambda: listening(local.url))
    pid = local.process.pid

    local.stop()

    assert not listening(local.url)
    assert not os.path.exists(f"/proc/{pid}") or "zombie" in open(f"/proc/{pid}/status").read().lower()
    assert json.loads((tmp_path / "status.json").read_text())["status"] == "down"


def test_a_second_app_takes_over_when_the_supervising_one_ends(tmp_path):
    first = LocalModelServer(tmp_path, ServerOptions(port=free_port()))
    first.ensure_running()
    wait_for(lambda: listening(first.url))
    second = LocalModelServer(tmp_path, first.options)
    second.ensure_running()
    assert not second.supervising

    first.stop()

    try:
        wait_for(lambda: second.supervising and status(second)["status"] == "up")
    finally:
        second.stop()


def test_a_port_taken_by_another_program_is_never_called_ours(tmp_path):
    import socket

    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", 0))
        squatter.listen()
        local = LocalModelServer(tmp_path, ServerOptions(port=squatter.getsockname()[1]))
        local.ensure_running()
        try:
            time.sleep(0.5)
            assert local.process is None  # no second server was started
            assert status(local)["status"] == "down"
        finally:
            local.stop()


def test_an_unusable_state_path_leaves_the_model_disabled_not_the_app_down(tmp_path):
    from adapters.embedded_services import EmbeddedServices
    from config.settings import Settings

    blocker = tmp_path / "a-file"
    blocker.write_text("")
    services = EmbeddedServices(Settings(mongodb_uri="mongodb://unused", local_model_path=str(
        blocker / "local-model"), models_config="config/models.yaml"))

    endpoint = services.local_model_endpoint()

    assert endpoint.url == "" and "LOCAL_MODEL_PATH" in endpoint.reason


@pytest.mark.parametrize("extra", [
    {"response_format": {"type": "json_schema", "json_schema": {"name": "a", "schema": {
        "type": "string", "pattern": "^a{0,2000}$"}}}},
    {"tools": [{"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}]},
])
def test_what_could_crash_the_local_server_is_refused_before_it(server, gateway, extra):
    from entities.errors import ValidationFailed

    pid = server.process.pid
    with pytest.raises(ValidationFailed):
        gateway.complete(ChatRequest(messages=[{"role": "user", "content": "hi"}], model=LOCAL,
                                     max_tokens=5, extra=extra))
    assert server.process.pid == pid and status(server)["status"] == "up"


def test_a_prompt_longer_than_the_context_window_is_the_callers_error(server, gateway):
    from entities.errors import ValidationFailed

    with pytest.raises(ValidationFailed, match="context window"):
        gateway.complete(ask("lighthouse " * 3000))
