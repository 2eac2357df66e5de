"""Fakes of the model gateway's ports (use_cases/gateway/ports.py), and the gateway's use cases
built on them for tests that do not care about budgets or models."""
from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from datetime import datetime
from typing import Literal

from entities.budget import Counter, SpendTotals
from entities.errors import UpstreamError
from entities.llm import (
    ChatRequest,
    ChatResult,
    EmbeddingResult,
    ModelInfo,
    ProviderCredential,
    StreamChunk,
    Usage,
    UsageRecord,
)
from repositories.api_keys import MongoApiKeyRepository, to_api_key
from repositories.responses import MongoResponseRepository
from repositories.usage import MongoUsageRepository, to_usage_record
from repositories.users import MongoUserRepository
from tests.fakes.database import StoredRows, memory_database, on_mongomock
from tests.fakes.identity import FakeMailer
from tests.fakes.shared import FakeEventBus
from tests.fakes.workspaces import FakeAccess, membership_repository, workspace_repository
from use_cases.gateway.budget_alerts import BudgetAlerts
from use_cases.gateway.budgets import Budgets
from use_cases.gateway.llm_chat import LLMChat
from use_cases.gateway.metered_call import ModelCallMeter
from use_cases.gateway.ports import (
    LLMGateway,
    ProviderCredentials,
    ResponsesTranslation,
    SpendRepository,
)
from use_cases.gateway.usage_recorder import UsageRecorder

MODEL = "fake/model"
VISION_MODEL = "fake/vision"


class FakeLLMGateway(LLMGateway):
    """Every model call answered from a script.

    The reply is `reply` (default "Echo: <last user text>"), streamed one word per chunk (or one
    character, with chunks="characters"), with `usage` (default: 7 prompt tokens, one completion
    token per word, $0.5). `error` is raised by every call while set (after `stream_error_after`
    chunks of a stream, when that is set); the next `fail` calls raise UpstreamError("provider
    down"). With `gate` set, each chunk after the first waits for it to be released; `on_call`
    sees each request first. `models` are [MODEL, VISION_MODEL] unless given (available with any
    credentials, or only with some with keys_required=True); `streams_only`: complete() is a
    test failure. Every request is kept in `requests`."""

    def __init__(self, reply: str | None = None, *, usage: Usage | None = None,
                 models: list[str] | None = None, keys_required: bool = False,
                 context_window: int = 8192, chunks: Literal["words", "characters"] = "words",
                 error: Exception | None = None, streams_only: bool = False):
        self.reply = reply
        self.usage = usage
        self.model_ids = [MODEL, VISION_MODEL] if models is None else models
        self.keys_required = keys_required
        self.window = context_window
        self.chunking = chunks
        self.error = error
        self.streams_only = streams_only
        self.fail = 0
        self.stream_error_after: int | None = None
        self.gate: threading.Semaphore | None = None
        self.on_call: Callable[[ChatRequest], None] | None = None
        self.requests: list[ChatRequest] = []

    def models(self, credentials):
        available = bool(credentials) or not self.keys_required
        return [ModelInfo(model, "fake", available, model == MODEL, self.window, 0.001, 0.002,
                          supports_vision=model == VISION_MODEL) for model in self.model_ids]

    def default_model(self, credentials):
        return MODEL

    def _text(self, request: ChatRequest) -> str:
        if self.reply is not None:
            return self.reply
        last = request.messages[-1]["content"]
        if isinstance(last, list):
            last = " ".join(part.get("text", "") for part in last)
        return f"Echo: {last}"

    def _result(self, request: ChatRequest, content: str) -> ChatResult:
        usage = self.usage or Usage(7, len(content.split()), 0.5)
        return ChatResult(id="r", model=request.model, provider="fake", content=content,
                          usage=usage, latency_ms=12.0, ttft_ms=3.0)

    def _called(self, request: ChatRequest) -> None:
        self.requests.append(request)
        if self.on_call:
            self.on_call(request)
        if self.fail:
            self.fail -= 1
            raise UpstreamError("provider down")
        if self.error is not None and self.stream_error_after is None:
            raise self.error

    def complete(self, request):
        if self.streams_only:
            raise AssertionError("this test's code streams every model call")
        self._called(request)
        return self._result(request, self._text(request))

    def stream(self, request):
        self._called(request)
        return self._chunks(request)

    def _pieces(self, text: str) -> list[str]:
        if self.chunking == "characters":
            return list(text)
        words = text.split(" ")
        return [word if index == 0 else " " + word for index, word in enumerate(words)]

    def _chunks(self, request: ChatRequest) -> Iterator[StreamChunk]:
        text = self._text(request)
        for index, piece in enumerate(self._pieces(text)):
            if self.stream_error_after is not None and index >= self.stream_error_after:
                assert self.error is not None
                raise self.error
            if index and self.gate is not None:
                self.gate.acquire(timeout=5)
            yield StreamChunk(delta=piece)
        yield StreamChunk(result=self._result(request, text))

    def embed(self, request):
        """One 3-number vector per text (its length, words, position); 1 token per word."""
        self._called(ChatRequest(messages=[{"role": "user", "content": t} for t in request.input],
                                 model=request.model))
        words = sum(len(text.split()) for text in request.input)
        return EmbeddingResult(model=request.model, provider="fake",
                               vectors=[[float(len(t)), float(len(t.split())), float(i)]
                                        for i, t in enumerate(request.input)],
                               usage=Usage(words, 0, words * 0.001), latency_ms=2.0)

    def count_tokens(self, model, messages, tools=None):
        total = len(json.dumps(tools).split()) if tools else 0
        for message in messages:
            content = message["content"]
            if isinstance(content, list):
                content = " ".join(part.get("text", "") for part in content)
            total += len(str(content).split()) + 1
        return total

    def context_window(self, model):
        return self.window


class FakeProviderCredentials(ProviderCredentials):
    """`keys`: workspace id -> its credentials (none for any other workspace). Reads are counted."""

    def __init__(self, keys: dict[str, dict[str, ProviderCredential]] | None = None):
        self.keys = keys or {}
        self.reads = 0

    def for_workspace(self, workspace_id):
        self.reads += 1
        return dict(self.keys.get(workspace_id or "", {}))


class MongomockApiKeyRepository(MongoApiKeyRepository):
    """MongoApiKeyRepository, with its keys as `keys` (id -> ApiKey) and the `touch_at` of every
    find_by_hash in `lookups`."""

    def __init__(self, db):
        super().__init__(db)
        self.lookups: list[datetime | None] = []

    def find_by_hash(self, key_hash, touch_at=None):
        self.lookups.append(touch_at)
        return super().find_by_hash(key_hash, touch_at)

    @property
    def keys(self) -> StoredRows:
        return StoredRows(self.collection, to_api_key)


def api_key_repository(db=None) -> MongomockApiKeyRepository:
    return on_mongomock(MongomockApiKeyRepository, db)


class FakeResponsesTranslation(ResponsesTranslation):
    """The Responses shapes reduced to what the use case relies on: string input or
    `{role, content}` / `function_call_output` items; `max_output_tokens` -> `max_tokens`,
    `tools` passed as they are; a Response with `output_text` and `function_call` items. The
    real mapping (LiteLLM's) is checked end to end in tests/e2e/test_openai_responses.py."""

    def to_messages(self, input):
        if isinstance(input, str):
            return [{"role": "user", "content": input}]
        return [{"role": "tool", "tool_call_id": item["call_id"], "content": item["output"]}
                if item.get("type") == "function_call_output"
                else {"role": item["role"], "content": item["content"]} for item in input]

    def to_chat_params(self, request):
        params = {"max_tokens": request.get("max_output_tokens"),
                  "temperature": request.get("temperature"), "tools": request.get("tools")}
        return {name: value for name, value in params.items() if value is not None}

    def to_response(self, response_id, created_at, request, result, message_id=None):
        output: list[dict] = []
        if result is not None and result.content:
            output.append({"type": "message", "id": message_id, "role": "assistant",
                           "content": [{"type": "output_text", "text": result.content}]})
        for call in (result.tool_calls or []) if result is not None else []:
            output.append({"type": "function_call", "call_id": call["id"],
                           "name": call["function"]["name"],
                           "arguments": call["function"]["arguments"]})
        return {"id": response_id, "object": "response", "created_at": created_at,
                "status": "in_progress" if result is None else "completed",
                "model": result.model if result is not None else request.get("model"),
                "previous_response_id": request.get("previous_response_id"),
                "output": output}


def response_repository(db=None) -> MongoResponseRepository:
    """Stored Responses API responses on mongomock (checked against the wire in tests/contract)."""
    return on_mongomock(MongoResponseRepository, db)


class MongomockUsageRepository(MongoUsageRepository):
    """MongoUsageRepository, raising ConnectionError while `fail` is set; the batches it stored
    are kept in `batches` and signalled by `written`, the stored records read back by `records`."""

    def __init__(self, db):
        super().__init__(db)
        self.fail = False
        self.batches: list[list[UsageRecord]] = []
        self.written = threading.Event()

    def add_many(self, records):
        if self.fail:
            raise ConnectionError("database down")
        stored = super().add_many(records)
        self.batches.append(list(records))
        self.written.set()
        return stored

    @property
    def records(self) -> list[UsageRecord]:
        return [to_usage_record(doc) for doc in self.collection.find()]


def usage_repository(db=None) -> MongomockUsageRepository:
    return on_mongomock(MongomockUsageRepository, db)


class FakeSpendRepository(SpendRepository):
    """Spend counters in memory, with the MongoDB repository's hold and settle rules (mongomock
    cannot run that one: its bulk_write does not take pymongo 4.9+'s UpdateOne)."""

    def __init__(self):
        self.counters: dict[Counter, dict] = {}

    def _counter(self, counter: Counter) -> dict:
        return self.counters.setdefault(counter, {"cost": 0.0, "reserved": 0.0, "requests": 0,
                                                  "holds": {}, "alerted": []})

    def totals(self, counters):
        return {c: SpendTotals(self.counters[c]["cost"], self.counters[c]["reserved"])
                if c in self.counters else SpendTotals(0.0, 0.0) for c in counters}

    def hold(self, counter, hold_id, amount, budget_usd, expires_at):
        row = self._counter(counter)
        committed = row["cost"] + row["reserved"]
        if committed >= budget_usd or committed > budget_usd - amount:
            return False
        row["reserved"] += amount
        row["holds"][hold_id] = (amount, expires_at)
        return True

    def settle(self, hold_id, counters, cost_usd, requests=1):
        for counter, held in counters:
            row = self._counter(counter)
            if held and row["holds"].pop(hold_id, None) is not None:
                row["reserved"] -= held
            row["cost"] += cost_usd
            row["requests"] += requests

    def release(self, counter, hold_id, held):
        row = self.counters.get(counter)
        if row is None or row["holds"].pop(hold_id, None) is None:
            return False
        row["reserved"] -= held
        return True

    def expired_holds(self, now, limit=100):
        expired = [(counter, hold_id, amount) for counter, row in self.counters.items()
                   for hold_id, (amount, expires_at) in row["holds"].items() if expires_at < now]
        return expired[:limit]

    def mark_alerted(self, counter, threshold):
        row = self.counters.get(counter)
        if row is None or threshold in row["alerted"]:
            return False
        row["alerted"].append(threshold)
        return True


def budgets_on_fakes(workspaces=None, memberships=None, keys=None, spend=None,
                     access=None) -> Budgets:
    """Budgets over fresh stores; with the defaults, no budget is set anywhere."""
    db = memory_database()
    memberships = memberships or membership_repository(db)
    workspaces = workspaces or workspace_repository(db)
    spend = spend or FakeSpendRepository()
    alerts = BudgetAlerts(spend, workspaces, memberships, on_mongomock(MongoUserRepository, db),
                          FakeMailer(), FakeEventBus())
    return Budgets(workspaces, memberships, keys or api_key_repository(db), spend,
                   access or FakeAccess(), alerts)


def meter_without_budgets(gateway: LLMGateway, usage: UsageRecorder | None = None) -> ModelCallMeter:
    """Every call metered, none limited: usage goes to `usage` (default: a fresh store)."""
    return ModelCallMeter(gateway, budgets_on_fakes(), usage or UsageRecorder(usage_repository()))


def llm_chat_without_models() -> LLMChat:
    """Model calls for code that makes none (workflows of http_request nodes...)."""
    models = FakeLLMGateway(models=[], error=UpstreamError("No model provider in this test"))
    return LLMChat(models, FakeProviderCredentials(), FakeAccess(), meter_without_budgets(models))
