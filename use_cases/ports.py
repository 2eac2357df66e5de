"""Interfaces of every repository and gateway the use cases need.

Real implementations live in repositories/ and adapters/; unit tests use in-memory fakes.
Sections are grouped by area; keep imports at the top.
"""
from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Iterator

from entities.llm import (
    ChatRequest,
    ChatResult,
    ModelInfo,
    ProviderCredential,
    StreamChunk,
    UsageRecord,
)


# --- Service ------------------------------------------------------------------------------------

class DatabaseProbe(ABC):
    @abstractmethod
    def ping_ms(self) -> float:
        """Round-trip time of a trivial command; raises when the database is unreachable."""


# --- LLM gateway --------------------------------------------------------------------------------

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
    def count_tokens(self, model: str, messages: list[dict]) -> int: ...

    @abstractmethod
    def context_window(self, model: str) -> int: ...


class UsageRepository(ABC):
    @abstractmethod
    def add_many(self, records: list[UsageRecord]) -> None: ...


class ProviderCredentials(ABC):
    """A workspace's provider keys, decrypted for a call."""

    @abstractmethod
    def for_workspace(self, workspace_id: str | None) -> dict[str, ProviderCredential]: ...
