"""Interfaces the LLM gateway needs: the model gateway itself, provider credentials and
keys, API keys, usage records and monthly spend.

Real implementations live in repositories/ and adapters/; unit tests use in-memory fakes.
"""
from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator
from datetime import datetime

from entities.api_key import ApiKey
from entities.budget import Counter, SpendTotals
from entities.llm import (
    ChatRequest,
    ChatResult,
    EmbeddingRequest,
    EmbeddingResult,
    ModelInfo,
    ProviderCredential,
    StreamChunk,
    UsageRecord,
)
from entities.provider_key import StoredProviderKey
from entities.responses import StoredResponse


class LLMGateway(ABC):
    """Every model call. Raises entities.errors.UpstreamError / UpstreamTimeout /
    UpstreamRateLimited once the router's retries and fallbacks are spent."""

    @abstractmethod
    def models(self, credentials: dict[str, ProviderCredential]) -> list[ModelInfo]: ...

    @abstractmethod
    def default_model(self, credentials: dict[str, ProviderCredential]) -> str: ...

    @abstractmethod
    def complete(self, request: ChatRequest) -> ChatResult: ...

    @abstractmethod
    def stream(self, request: ChatRequest) -> Iterator[StreamChunk]:
        """Yields text deltas; the last chunk carries the finished ChatResult."""

    @abstractmethod
    def embed(self, request: EmbeddingRequest) -> EmbeddingResult:
        """Embeds `request.input` with a model whose mode is "embedding" (InvalidParameter on
        `model` for another kind of model; UnknownModel for one the catalogue lacks)."""

    def passed_params(self) -> frozenset[str]:
        """The ChatRequest.extra fields a call passes on to providers (the rest are ignored)."""
        return frozenset()

    def warm_up(self) -> None:  # noqa: B027 - optional: most gateways have nothing to load
        """Loads what a process's first call would (libraries, tokenizers, clients), so that no
        user's call pays for it; a server calls it in each new worker before taking requests."""

    @abstractmethod
    def count_tokens(self, model: str, messages: list[dict],
                     tools: list[dict] | None = None) -> int:
        """The prompt tokens of `messages` on `model`, with the function specs `tools` (OpenAI
        chat `tools[]` items, sent with the prompt and billed as input) when given."""

    @abstractmethod
    def context_window(self, model: str) -> int: ...


class ResponsesTranslation(ABC):
    """OpenAI's Responses API onto chat completions and back (the shapes only: no call)."""

    @abstractmethod
    def to_messages(self, input: str | list[dict]) -> list[dict]:
        """A request's `input` (a string, or message / function_call / function_call_output
        items) as chat-completion messages. ValidationFailed for an item it cannot read."""

    @abstractmethod
    def to_chat_params(self, request: dict) -> dict:
        """The chat-completion parameters of a Responses request (`tools` -> chat tools,
        `tool_choice`, `text.format` -> `response_format`, `max_output_tokens` -> `max_tokens`,
        `reasoning` -> `reasoning_effort`...), None values left out."""

    @abstractmethod
    def to_response(self, response_id: str, created_at: int, request: dict,
                    result: ChatResult | None, message_id: str | None = None) -> dict:
        """The Response object (`object: "response"`) of a finished chat completion (`result`
        None: the response as it starts, `status: "in_progress"`), echoing the request's
        settings (`instructions`, `tools`, `previous_response_id`, `store`...); its message
        output item gets `message_id`. `created_at` in Unix seconds."""


class ResponseRepository(ABC):
    """Stored Responses API responses, per workspace."""

    @abstractmethod
    def add(self, response: StoredResponse) -> StoredResponse: ...

    @abstractmethod
    def get(self, workspace_id: str, response_id: str) -> StoredResponse | None:
        """The workspace's response with this id (None for another workspace's)."""


class UsageRepository(ABC):
    @abstractmethod
    def add_many(self, records: list[UsageRecord]) -> list[UsageRecord] | None:
        """Stores a batch; a record already stored (a retried batch) is skipped. Returns the
        records this call stored, or None when the implementation cannot tell (all of them)."""


class ProviderCredentials(ABC):
    """A workspace's provider keys, decrypted for a call."""

    @abstractmethod
    def for_workspace(self, workspace_id: str | None) -> dict[str, ProviderCredential]: ...


class ProviderKeyRepository(ABC):
    @abstractmethod
    def put(self, key: StoredProviderKey) -> StoredProviderKey:
        """Insert or replace the workspace's key for `key.provider`."""

    @abstractmethod
    def list(self, workspace_id: str) -> list[StoredProviderKey]: ...

    @abstractmethod
    def delete(self, workspace_id: str, provider: str) -> bool: ...


class ApiKeyRepository(ABC):
    @abstractmethod
    def add(self, key: ApiKey) -> ApiKey: ...

    @abstractmethod
    def get(self, key_id: str) -> ApiKey | None:
        """A key by id, revoked or not."""

    @abstractmethod
    def list(self, workspace_id: str) -> list[ApiKey]:
        """The workspace's keys that are not revoked, newest first."""

    @abstractmethod
    def find_by_hash(self, key_hash: str, touch_at: datetime | None = None) -> ApiKey | None:
        """The key with this secret hash, revoked or not; with `touch_at`, a key that is not
        revoked gets `last_used_at = touch_at` in the same round trip."""

    @abstractmethod
    def revoke(self, workspace_id: str, key_id: str, at: datetime) -> ApiKey | None:
        """Marks a live key of the workspace revoked; None when there is no such key."""


# (hold id, [(counter, amount held)], actual cost, whether the holds may have been released)
Settlement = tuple[str, list[tuple[Counter, float]], float, bool]
# (counter, hold id, amount, budget, expires at): the arguments of SpendRepository.hold
HoldRequest = tuple[Counter, str, float, float, datetime]


class SpendRepository(ABC):
    """Money spent per calendar month per workspace, API key and member: counters, so a budget
    check reads or updates one small document instead of summing usage."""

    @abstractmethod
    def totals(self, counters: list[Counter]) -> dict[Counter, SpendTotals]:
        """Settled and held spend of each counter (zeros for one never written)."""

    @abstractmethod
    def hold(self, counter: Counter, hold_id: str, amount: float, budget_usd: float,
             expires_at: datetime) -> bool:
        """Atomically holds `amount` USD unless the counter's settled plus held spend would pass
        `budget_usd` (or already reached it); False, holding nothing, when it would."""

    def hold_many(self, requests: list[HoldRequest]) -> list[bool]:
        """Several calls' hold(), in order, in as few round trips as the store allows: what
        each would have returned (a request may be refused only where hold() would refuse it)."""
        return [self.hold(*request) for request in requests]

    @abstractmethod
    def settle(self, hold_id: str, counters: list[tuple[Counter, float]], cost_usd: float,
               requests: int = 1) -> None:
        """Adds a finished call's actual cost to each counter, releasing the hold `hold_id` of
        `held` USD where the counter has one ((counter, held) pairs; held 0: no hold). A hold
        already gone (released by the sweeper) does not stop the cost from being added."""

    def settle_many(self, settlements: list[Settlement]) -> None:
        """Several calls' settle(), in as few round trips as the store allows."""
        for hold_id, counters, cost_usd, _maybe_released in settlements:
            self.settle(hold_id, counters, cost_usd)

    @abstractmethod
    def release(self, counter: Counter, hold_id: str, held: float) -> bool:
        """Drops a hold without adding any cost; False when it was already gone."""

    @abstractmethod
    def expired_holds(self, now: datetime, limit: int = 100) -> list[tuple[Counter, str, float]]:
        """(counter, hold id, amount) of holds whose call should have ended before `now`."""

    @abstractmethod
    def mark_alerted(self, counter: Counter, threshold: float) -> bool:
        """True the first time `threshold` is marked on this counter (one alert per month)."""
