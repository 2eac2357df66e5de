"""Idempotent requests: what a request sent with an `Idempotency-Key` (or `client_message_id`)
left behind, so that a repeat of it stores nothing new and gets the same answer.

API.md "Streams and sends that never duplicate or lose"; the header's semantics follow the IETF
draft "The Idempotency-Key HTTP Header Field" (a repeat while the first is still being processed
is a 409, a key reused with another request is refused).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from entities.errors import Conflict


class IdempotencyConflict(Conflict):
    """409: the key was used for another request, or its first request is still running."""

    code = "idempotency_conflict"
    default_message = "This Idempotency-Key was used for a different request"


@dataclass(frozen=True)
class StoredResponse:
    """What the first request answered, replayed to every repeat.

    `kind` "json": `status` and the JSON `body` as sent. Any other kind is a stream its route
    replays (resumes) itself from `body` and `refs`, the ids of the documents it stored (e.g.
    `{"talk_id", "user_message_id", "message_id"}` for a streamed reply)."""

    status: int
    body: Any = None
    kind: str = "json"
    refs: dict[str, str] = field(default_factory=dict)
    headers: dict[str, str] = field(default_factory=dict)  # e.g. a 201's Location


@dataclass(frozen=True)
class IdempotencyRecord:
    """One key of one user on one route. `claim_id` names the request that runs it;
    `response` is None while it runs (`lease_until`: after that a repeat may take it over, its
    worker having died); the record is forgotten at `expires_at`."""

    user_id: str
    route: str
    key: str
    fingerprint: str
    claim_id: str
    lease_until: datetime
    expires_at: datetime
    response: StoredResponse | None = None
    created_at: datetime | None = None

    @property
    def finished(self) -> bool:
        return self.response is not None
