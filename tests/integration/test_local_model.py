"""The offline SmolLM2 model answering through the gateway (needs the compiled runtime)."""
from __future__ import annotations

import threading

import pytest

from adapters.llm_gateway import LiteLLMGateway
from entities.llm import ChatRequest

# Deselect with `-m "not local_model"` on machines without the compiled runtime; CI runs it.
pytestmark = pytest.mark.local_model

LOCAL = "local/smollm2"


@pytest.fixture(scope="module")
def gateway() -> LiteLLMGateway:
    return LiteLLMGateway("config/models.yaml", environ={}, timeout_s=120)


def ask(content: str) -> ChatRequest:
    return ChatRequest(messages=[{"role": "user", "content": content}], model=LOCAL, max_tokens=24)


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
    assert result.usage.completion_tokens == len(deltas)
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
