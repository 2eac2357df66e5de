"""Fakes of the ports several areas share (use_cases/shared/ports.py), and a hand-moved clock."""
from __future__ import annotations

import re
import threading
import time
from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit

from entities.outbound import HttpResponse, OutboundFailed, OutboundRefused
from repositories.audit import MongoAuditLog, to_entry
from repositories.idempotency import MongoIdempotencyRepository
from use_cases.shared.ports import Encryptor, EventBus, OutboundHttp, Subscription
from use_cases.workflows.events import unpack


class Published(tuple):
    """One published event: a (topic, event) pair that also reads as the event with its topic,
    `published["topic"]`, `published.get("type")`."""

    def __new__(cls, topic: str, event: dict):
        return super().__new__(cls, (topic, event))

    def _flat(self) -> dict:
        return {"topic": tuple.__getitem__(self, 0), **tuple.__getitem__(self, 1)}

    def __getitem__(self, key):  # type: ignore[override]
        if isinstance(key, str):
            return self._flat()[key]
        return tuple.__getitem__(self, key)

    def get(self, key: str, default=None):
        return self._flat().get(key, default)


class FakeSubscription(Subscription):
    """Receives what is published on its topics after it was made, like the real bus."""

    def __init__(self, bus: FakeEventBus, topics: list[str]):
        self.bus = bus
        self.topics = set(topics)
        self.position = len(bus.published)
        self.ended = False

    def get(self, timeout: float) -> dict | None:
        deadline = time.monotonic() + timeout
        with self.bus.changed:
            while True:
                while self.position < len(self.bus.published):
                    topic, event = self.bus.published[self.position]
                    self.position += 1
                    if topic in self.topics:
                        return {"topic": topic, **event}
                left = deadline - time.monotonic()
                if left <= 0 or self.ended or self.bus.stopped:
                    return None
                self.bus.changed.wait(left)

    def close(self) -> None:
        with self.bus.changed:
            self.ended = True
            self.bus.changed.notify_all()

    @property
    def closed(self) -> bool:
        return self.bus.stopped


class FakeEventBus(EventBus):
    """Keeps every published event in `published`; subscriptions receive them in-process."""

    def __init__(self):
        self.published: list[Published] = []
        self.changed = threading.Condition()
        self.stopped = False

    def publish(self, topic: str, event: dict) -> None:
        with self.changed:
            self.published.append(Published(topic, event))
            self.changed.notify_all()

    def subscribe(self, topics: list[str]) -> Subscription:
        with self.changed:
            return FakeSubscription(self, topics)

    def close(self) -> None:
        with self.changed:
            self.stopped = True
            self.changed.notify_all()

    def on(self, topic: str) -> list[dict]:
        """The events published on `topic`, each with its topic."""
        with self.changed:
            return [event._flat() for event in self.published if event[0] == topic]

    def types(self, topic: str) -> list[str]:
        """The types of the events published on `topic`, batches unpacked."""
        with self.changed:
            return [event["type"] for t, message in self.published if t == topic
                    for event in unpack(message)]


class FakeEncryptor(Encryptor):
    """Reversible and recognisable, so tests can tell ciphertext from plaintext."""

    def encrypt(self, plaintext: str) -> str:
        return "enc:" + plaintext[::-1]

    def decrypt(self, ciphertext: str) -> str:
        if not ciphertext.startswith("enc:"):
            raise ValueError("not ours")
        return ciphertext[4:][::-1]


PRIVATE_HOST = re.compile(r"^(localhost|127\.|10\.|192\.168\.|169\.254\.|172\.(1[6-9]|2\d|3[01])\.|::1$)")


class FakeOutboundHttp(OutboundHttp):
    """HTTP that reaches nothing. Public-looking http(s) URLs pass; loopback, private and link-local
    addresses are refused, as the real client refuses them once resolved.

    A request answers the next entry of `script` (a status, or an exception to raise) while there
    is one; otherwise, per URL, it waits `delay[url]` seconds, fails `failures[url]` times
    (OutboundFailed), then answers 200 with `bodies[url]` (default `{"ok": true}`)."""

    def __init__(self, *script: int | Exception):
        self.script = list(script)
        self.requests: list[tuple[str, str, dict | None, bytes | None]] = []
        self.calls: list[tuple[str, float]] = []  # (url, monotonic time the request started)
        self.spans: dict[str, tuple[float, float]] = {}
        self.delay: dict[str, float] = {}
        self.failures: dict[str, int] = {}
        self.bodies: dict[str, bytes] = {}
        self.lock = threading.Lock()

    def check_url(self, url):
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise OutboundRefused("Only http and https URLs with a host are allowed")
        if PRIVATE_HOST.match(parts.hostname):
            raise OutboundRefused(f"{parts.hostname} is not a public address")

    def request(self, method, url, headers=None, body=None, timeout_s=10.0, max_bytes=1 << 20):
        self.check_url(url)
        started = time.monotonic()
        with self.lock:
            self.requests.append((method, url, headers, body))
            self.calls.append((url, started))
            outcome = self.script.pop(0) if self.script else None
        if isinstance(outcome, Exception):
            raise outcome
        if outcome is not None:
            return HttpResponse(outcome, url=url)
        time.sleep(self.delay.get(url, 0))
        with self.lock:
            self.spans[url] = (started, time.monotonic())
            failing = self.failures.get(url, 0) > 0
            if failing:
                self.failures[url] -= 1
        if failing:
            raise OutboundFailed("connection reset")
        return HttpResponse(200, {"content-type": "application/json"},
                            self.bodies.get(url, b'{"ok": true}'), url)


class MongomockAuditLog(MongoAuditLog):
    """MongoAuditLog (run it with tests.fakes.database.on_mongomock), with the entries in the order
    they were recorded."""

    @property
    def entries(self) -> list[dict]:
        return [to_entry(doc) for doc in self.collection.find()]

    def actions(self) -> list[str]:
        return [entry["action"] for entry in self.entries]


class FakeClock:
    """Wall time and a monotonic clock that only move when told to."""

    def __init__(self, now: datetime = datetime(2026, 3, 15, 12, tzinfo=UTC)):
        self.now = now
        self.seconds = 1000.0

    def wall(self) -> datetime:
        return self.now

    def monotonic(self) -> float:
        return self.seconds

    def advance(self, seconds: float) -> None:
        self.seconds += seconds
        self.now += timedelta(seconds=seconds)


class MongomockIdempotencyRepository(MongoIdempotencyRepository):
    """The MongoDB repository on mongomock (tests/contract checks both alike; mongomock keeps
    the TTL index but never expires a record: claims treat expired ones as gone anyway)."""
