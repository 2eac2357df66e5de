"""Interfaces several areas share: the database probe, the event bus that reaches every
process, the audit log, encryption of secrets at rest, HTTP to user-chosen URLs and the records of
idempotent requests.

Real implementations live in repositories/ and adapters/; unit tests use in-memory fakes.
"""
from __future__ import annotations

from abc import ABC, abstractmethod
from datetime import datetime

from entities.idempotency import IdempotencyRecord, StoredResponse
from entities.outbound import HttpResponse
from entities.pagination import Page, PageRequest


class DatabaseProbe(ABC):
    @abstractmethod
    def ping_ms(self) -> float:
        """Round-trip time of a trivial command; raises when the database is unreachable."""


class Subscription(ABC):
    @abstractmethod
    def get(self, timeout: float) -> dict | None:
        """The next event ({"topic", ...payload}), or None after `timeout` seconds."""

    @abstractmethod
    def close(self) -> None: ...

    @property
    def closed(self) -> bool:
        """True once the bus has shut down (the process is draining): consumers end the stream."""
        return False

    def __enter__(self) -> Subscription:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class EventBus(ABC):
    """Events that reach subscribers in every process (gunicorn worker, host) of the service."""

    @abstractmethod
    def publish(self, topic: str, event: dict) -> None: ...

    @abstractmethod
    def subscribe(self, topics: list[str]) -> Subscription: ...

    def close(self) -> None:  # noqa: B027 - not abstract: a bus holding nothing has nothing to end
        """Stop delivering: every subscription reads as `closed` (the process is draining)."""


class AuditLog(ABC):
    @abstractmethod
    def record(self, action: str, actor_id: str | None, target_type: str | None = None,
               target_id: str | None = None, workspace_id: str | None = None,
               ip: str | None = None, details: dict | None = None) -> None: ...

    @abstractmethod
    def search(self, actor: str | None, action: str | None, since: datetime | None,
               until: datetime | None, page: PageRequest) -> Page[dict]: ...


class Encryptor(ABC):
    """Symmetric encryption of secrets at rest."""

    @abstractmethod
    def encrypt(self, plaintext: str) -> str: ...

    @abstractmethod
    def decrypt(self, ciphertext: str) -> str:
        """Raises ValueError when the ciphertext was not made with a configured key."""


class OutboundHttp(ABC):
    """HTTP to user-chosen URLs, refusing private, loopback, link-local, metadata, multicast and
    reserved addresses (after DNS resolution, on every redirect) unless allow-listed."""

    @abstractmethod
    def check_url(self, url: str) -> None:
        """Raises OutboundRefused when `url` may not be called (bad scheme, refused address),
        OutboundFailed (HostNotResolved) when its host does not resolve."""

    @abstractmethod
    def request(self, method: str, url: str, headers: dict[str, str] | None = None,
                body: bytes | None = None, timeout_s: float = 10.0,
                max_bytes: int = 1024 * 1024) -> HttpResponse:
        """OutboundRefused for a refused address; OutboundFailed for a network failure, a
        timeout, too many redirects or a body over `max_bytes`."""


class IdempotencyRepository(ABC):
    """Records of idempotent requests, one per (user, route, key), forgotten after their
    `expires_at` (a TTL index)."""

    @abstractmethod
    def claim(self, record: IdempotencyRecord, now: datetime) -> IdempotencyRecord | None:
        """Stores `record` (unfinished) when no live record holds its (user, route, key), or
        takes over one whose request lost its worker (unfinished, `lease_until` <= now) or that
        expired: None, atomically, for exactly one of concurrent claims. Else the record that
        holds the key."""

    @abstractmethod
    def finish(self, record: IdempotencyRecord, response: StoredResponse) -> bool:
        """Stores the response of the request that claimed `record` (its `claim_id`); False when
        that claim no longer holds the key."""

    @abstractmethod
    def release(self, record: IdempotencyRecord) -> None:
        """Forgets the unfinished claim `record` (its request changed nothing): the key may be
        used again."""
