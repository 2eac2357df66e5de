"""Webhooks: a workspace's subscriptions to its events, and the deliveries made for them."""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import Enum

WEBHOOK_EVENTS = (
    "talk.created",
    "message.created",
    "file.uploaded",
    "workflow.execution.completed",
    "workflow.execution.failed",
    "member.added",
    "budget.threshold_reached",
)


@dataclass
class Webhook:
    id: str
    workspace_id: str
    url: str
    events: list[str]
    encrypted_secret: str
    created_by: str
    created_at: datetime | None = None


class DeliveryStatus(str, Enum):
    PENDING = "pending"  # waiting for its next attempt (or being attempted)
    DELIVERED = "delivered"
    FAILED = "failed"  # attempts exhausted, or the address is refused


@dataclass
class DeliveryAttempt:
    at: datetime
    status_code: int | None
    error: str | None
    duration_ms: float


@dataclass
class Delivery:
    id: str
    webhook_id: str
    workspace_id: str
    event: str
    event_id: str
    body: str  # the exact bytes (UTF-8) every attempt sends and signs
    status: DeliveryStatus = DeliveryStatus.PENDING
    attempts: int = 0
    next_attempt_at: datetime | None = None
    status_code: int | None = None
    error: str | None = None
    delivered_at: datetime | None = None
    created_at: datetime | None = None
    log: list[DeliveryAttempt] = field(default_factory=list)


@dataclass(frozen=True)
class RetryPolicy:
    """Exponential backoff: base, 2x base, 4x base... capped, for at most `max_attempts` tries."""

    max_attempts: int = 6
    base_delay_s: float = 30.0
    max_delay_s: float = 3600.0

    def delay_after(self, attempts: int) -> float:
        return min(self.max_delay_s, self.base_delay_s * 2 ** max(0, attempts - 1))
