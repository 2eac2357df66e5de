"""Idempotent requests: a creating request sent again with the same key by the same user on the
same route stores nothing new and gets the first one's answer (API.md "Streams and sends that
never duplicate or lose").

- The key is claimed atomically before the request runs (a unique index), so of concurrent
  repeats exactly one runs; the others wait up to `wait_s` for its answer, then get 409
  `idempotency_conflict` (IETF draft "The Idempotency-Key HTTP Header Field": in progress).
- A repeat with another body (its fingerprint: SHA-256 of the canonical JSON) is 409
  `idempotency_conflict`.
- The answer is kept for `ttl` (24 h); a claim whose worker died is taken over after `lease`.
- A request that changed nothing (refused input, rights, budget, a conflict, a 503 to retry)
  releases its key: the repeat runs again (`keeps`).
"""
from __future__ import annotations

import hashlib
import json
import time
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from entities.clock import utcnow
from entities.idempotency import IdempotencyConflict, IdempotencyRecord, StoredResponse
from use_cases.shared.ports import IdempotencyRepository

TTL = timedelta(hours=24)  # API.md: "a repeat ... within 24 h"
LEASE = timedelta(minutes=6)  # longer than the longest request (a 5 min model call)
WAIT_S = 5.0
POLL_S = 0.1
MAX_KEY_LENGTH = 255


def fingerprint(body: Any) -> str:
    """SHA-256 (hex) of `body` as canonical JSON: keys sorted, no spaces, non-JSON values
    (dates) as strings. Two bodies that mean the same, fields in any order, match."""
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False,
                           default=str)
    return hashlib.sha256(canonical.encode("utf-8", "surrogatepass")).hexdigest()


def keeps(status: int) -> bool:
    """Whether an answer with this status is kept for repeats: successes, and a model's failure
    or timeout (502, 504: the messages were stored) are; a 4xx (the request changed nothing: bad
    input, rights, budget, a conflict), a 503 (retry later) and an unexpected error release the
    key, so the repeat runs again."""
    return status < 400 or status in (502, 504)


class Claim:
    """The right to run one request for its key; settled once, by `finish` or `release`."""

    def __init__(self, requests: IdempotentRequests, record: IdempotencyRecord):
        self.requests = requests
        self.record = record
        self.settled = False

    def finish(self, response: StoredResponse) -> None:
        """Keeps `response` for repeats (or releases the key when `keeps` says so)."""
        if self.settled:
            return
        self.settled = True
        if keeps(response.status):
            self.requests.repository.finish(self.record, response)
        else:
            self.requests.repository.release(self.record)

    def release(self) -> None:
        if not self.settled:
            self.settled = True
            self.requests.repository.release(self.record)


class IdempotentRequests:
    def __init__(self, repository: IdempotencyRepository, ttl: timedelta = TTL,
                 lease: timedelta = LEASE, wait_s: float = WAIT_S, poll_s: float = POLL_S,
                 clock: Callable[[], datetime] = utcnow,
                 sleep: Callable[[float], None] = time.sleep):
        self.repository = repository
        self.ttl = ttl
        self.lease = lease
        self.wait_s = wait_s
        self.poll_s = poll_s
        self.clock = clock
        self.sleep = sleep

    def begin(self, user_id: str, route: str, key: str,
              body_fingerprint: str) -> Claim | StoredResponse:
        """A Claim when this request runs (it must settle it), else the first request's answer.

        Raises IdempotencyConflict (409) when the key was used with another body, or its first
        request is still running after `wait_s`."""
        deadline = time.monotonic() + self.wait_s
        while True:
            now = self.clock()
            record = IdempotencyRecord(
                user_id=user_id, route=route, key=key, fingerprint=body_fingerprint,
                claim_id=uuid.uuid4().hex, lease_until=now + self.lease,
                expires_at=now + self.ttl, created_at=now)
            holder = self.repository.claim(record, now)
            if holder is None:
                return Claim(self, record)
            if holder.fingerprint != body_fingerprint:
                raise IdempotencyConflict(
                    "This Idempotency-Key was used for a different request",
                    {"idempotency_key": ["Already used with another request body."]})
            if holder.response is not None:
                return holder.response
            if time.monotonic() >= deadline:
                raise IdempotencyConflict(
                    "A request with this Idempotency-Key is still being processed; retry shortly",
                    {"idempotency_key": ["The first request is still in progress."]})
            self.sleep(self.poll_s)
