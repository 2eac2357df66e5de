"""What the service counts for Prometheus: model calls, workflow runs, HTTP requests, streams,
budget refusals."""
from __future__ import annotations

from abc import ABC, abstractmethod

from entities.llm import UsageRecord


class Metrics(ABC):
    """What the service counts for Prometheus."""

    @abstractmethod
    def llm_call(self, record: UsageRecord) -> None:
        """One finished model call (answered or failed), as recorded for usage."""

    @abstractmethod
    def budget_refusal(self, scope: str) -> None:
        """A model call refused before the provider was called: the budget of `scope`
        ("workspace", "api_key" or "member") could not take its worst case."""

    @abstractmethod
    def gateway_overhead(self, api: str, streamed: bool, seconds: float) -> None:
        """Time the service added to a model call: request handling minus the provider's time."""

    @abstractmethod
    def workflow_run(self, status: str) -> None: ...

    @abstractmethod
    def http_request(self, method: str, route: str, status: int, seconds: float) -> None: ...

    @abstractmethod
    def stream_opened(self, route: str) -> None: ...

    @abstractmethod
    def stream_closed(self, route: str) -> None: ...

    @abstractmethod
    def exposition(self) -> tuple[bytes, str]:
        """The Prometheus text format of every process of the service, and its content type."""
