"""In-memory stand-ins for the ports workflow runs use."""
from __future__ import annotations

import threading
import time

from entities.errors import NotFound
from entities.outbound import HttpResponse, OutboundFailed, OutboundRefused
from use_cases.shared.ports import EventBus, OutboundHttp, Subscription
from use_cases.workflows.events import unpack
from use_cases.workflows.ports import FileTexts


class FakeHttp(OutboundHttp):
    """Answers by URL: a delay, then a number of failures, then 200 with the URL's body."""

    def __init__(self):
        self.calls: list[tuple[str, float]] = []
        self.spans: dict[str, tuple[float, float]] = {}
        self.delay: dict[str, float] = {}
        self.failures: dict[str, int] = {}
        self.bodies: dict[str, bytes] = {}

    def check_url(self, url):
        if "169.254" in url:
            raise OutboundRefused("metadata address refused")

    def request(self, method, url, headers=None, body=None, timeout_s=10.0, max_bytes=1 << 20):
        self.check_url(url)
        started = time.monotonic()
        self.calls.append((url, started))
        time.sleep(self.delay.get(url, 0))
        self.spans[url] = (started, time.monotonic())
        if self.failures.get(url, 0) > 0:
            self.failures[url] -= 1
            raise OutboundFailed("connection reset")
        return HttpResponse(200, {"content-type": "application/json"},
                            self.bodies.get(url, b'{"ok": true}'), url)



class _NoEvents(Subscription):
    def get(self, timeout):
        time.sleep(min(timeout, 0.05))
        return None

    def close(self):
        pass


class RecordingBus(EventBus):
    """Keeps what is published; subscriptions receive nothing."""

    def __init__(self):
        self.published: list[tuple[str, dict]] = []
        self.lock = threading.Lock()

    def publish(self, topic, event):
        with self.lock:
            self.published.append((topic, event))

    def subscribe(self, topics):
        return _NoEvents()

    def types(self, topic: str) -> list[str]:
        """The types of the events published on `topic`, batches unpacked."""
        with self.lock:
            return [event["type"] for t, message in self.published if t == topic
                    for event in unpack(message)]


class NoFiles(FileTexts):
    """For runs whose nodes read no file: every file is missing."""

    def text_of(self, workspace_id, file_id, max_chars):
        raise NotFound("File not found")
