"""Interfaces the webhook use cases need: webhooks and their delivery queue.

Real implementations live in repositories/ and adapters/; unit tests use in-memory fakes.
"""
from __future__ import annotations

import builtins
from abc import ABC, abstractmethod
from datetime import datetime

from entities.pagination import Page, PageRequest
from entities.webhook import Delivery, DeliveryAttempt, DeliveryStatus, Webhook


class WebhookRepository(ABC):
    @abstractmethod
    def add(self, webhook: Webhook) -> Webhook: ...

    @abstractmethod
    def get(self, workspace_id: str, webhook_id: str) -> Webhook | None: ...

    @abstractmethod
    def list(self, workspace_id: str) -> list[Webhook]: ...

    @abstractmethod
    def count(self, workspace_id: str) -> int: ...

    @abstractmethod
    def delete(self, workspace_id: str, webhook_id: str) -> bool: ...

    @abstractmethod
    def subscribed(self, workspace_id: str, event: str) -> builtins.list[Webhook]:
        """The workspace's webhooks that listen to `event`."""


class DeliveryRepository(ABC):
    """The persisted delivery queue, which is also the delivery log."""

    @abstractmethod
    def add_many(self, deliveries: list[Delivery]) -> None:
        """Enqueue; a second delivery of the same event to the same webhook is ignored."""

    @abstractmethod
    def claim_due(self, now: datetime, lease_until: datetime) -> Delivery | None:
        """Atomically take one pending delivery due by `now`, hiding it from other claimers
        until `lease_until` (if this process dies mid-attempt, it is retried after that)."""

    @abstractmethod
    def record_attempt(self, delivery_id: str, attempt: DeliveryAttempt, status: DeliveryStatus,
                       next_attempt_at: datetime | None) -> None: ...

    @abstractmethod
    def page(self, webhook_id: str, page: PageRequest) -> Page[Delivery]:
        """Newest first."""
