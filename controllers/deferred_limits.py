"""RATELIMIT_LLM for /v1/chat/completions without a database round trip per call.

Flask-Limiter checks a limit with a few MongoDB commands per request; the OpenAI-compatible hot
path may only wait on a cached key lookup. So its calls are counted here, in the process, and a
background thread adds them to the very counters Flask-Limiter keeps in MongoDB (same storage,
same keys: `limit_llm`'s "llm" scope per user, or per API key) every `sync_interval_s`, reading
back the shared totals (for keys idle here, once a second). A call is refused once the last known
shared count plus this process's unsent calls reaches the limit, so every worker and every other
model route share one budget; a burst can pass the limit by what the other workers let through
before this one hears of it (one interval; a second for a key that was idle here).
"""
from __future__ import annotations

import logging
import os
import threading
import time
from functools import wraps

from flask import Flask, current_app, make_response
from limits import RateLimitItem, parse_many

from controllers.deps import settings
from controllers.errors import error_response
from controllers.rate_limits import limiter, user_or_ip

log = logging.getLogger(__name__)

EXTENSION = "synapscale.deferred_limits"
SCOPE = "llm"  # limit_llm's shared scope: one budget with every other model route


class DeferredCounter:
    def __init__(self, storage, sync_interval_s: float = 0.25, refresh_idle_s: float = 1.0):
        self.storage = storage
        self.sync_interval_s = sync_interval_s
        self.refresh_idle_s = refresh_idle_s
        self._next_idle_refresh = 0.0
        self._pending: dict[str, int] = {}  # key -> calls not yet added to the storage
        self._sending: dict[str, int] = {}  # key -> calls being added (not in _known yet)
        self._known: dict[str, tuple[int, float]] = {}  # key -> (shared count, window end)
        self._expiry: dict[str, int] = {}  # key -> window length in seconds
        self._window_ends: dict[str, float] = {}  # key -> window end as the storage says
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._pid: int | None = None

    def hit(self, key: str, item: RateLimitItem, cost: int = 1) -> tuple[bool, int, float]:
        """(allowed, remaining, window end as epoch seconds); allowed calls are counted, all
        `cost` of them or none."""
        now = time.time()
        with self._lock:
            count, ends = self._known.get(key, (0, now + item.get_expiry()))
            if ends <= now:
                count, ends = 0, now + item.get_expiry()
            used = count + self._pending.get(key, 0) + self._sending.get(key, 0)
            if used + cost > item.amount:
                return False, max(0, item.amount - used), ends
            self._pending[key] = self._pending.get(key, 0) + cost
            self._known[key] = (count, ends)
            self._expiry[key] = item.get_expiry()
        self._ensure_thread()
        return True, item.amount - used - cost, ends

    def sync(self) -> None:
        """Adds the calls counted here to the shared counters (each addition returns the shared
        total, the other workers' calls included) and, every `refresh_idle_s`, reads the totals of
        the keys idle here whose window is still open."""
        with self._lock:
            pending, self._pending = self._pending, {}
            for key, amount in pending.items():  # still counted by hit() until the total is back
                self._sending[key] = self._sending.get(key, 0) + amount
            idle = []
            if time.monotonic() >= self._next_idle_refresh:
                self._next_idle_refresh = time.monotonic() + self.refresh_idle_s
                idle = [key for key in self._known if key not in pending]
        for key in [*pending, *idle]:
            try:
                amount = pending.get(key, 0)
                count = (self.storage.incr(key, self._expiry[key], amount=amount) if amount
                         else self.storage.get(key))
                ends = self._window_ends.get(key)
                if ends is None or ends <= time.time():
                    ends = self._window_ends[key] = self.storage.get_expiry(key)
            except Exception:
                with self._lock:  # what was not sent goes with the next round
                    for unsent, calls in pending.items():
                        self._pending[unsent] = self._pending.get(unsent, 0) + calls
                        self._unsending(unsent, calls)
                log.warning("could not sync model-call rate limits; will retry", exc_info=True)
                return
            with self._lock:  # the shared total now includes what was sent
                self._known[key] = (count, ends)
                self._unsending(key, pending.pop(key, 0))
        self._forget_ended_windows()

    def _unsending(self, key: str, calls: int) -> None:
        left = self._sending.get(key, 0) - calls
        if left > 0:
            self._sending[key] = left
        else:
            self._sending.pop(key, None)

    def _forget_ended_windows(self) -> None:
        now = time.time()
        with self._lock:
            for key, (_count, ends) in list(self._known.items()):
                if ends <= now and not self._pending.get(key) and not self._sending.get(key):
                    for table in (self._known, self._expiry, self._window_ends):
                        table.pop(key, None)

    def close(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None and self._thread.is_alive():
            self._thread.join(5)
        self.sync()

    def _ensure_thread(self) -> None:
        """Started on first use, and again after a fork (threads do not survive it)."""
        if self._pid == os.getpid() and self._thread is not None and self._thread.is_alive():
            return
        with self._lock:
            if self._stop.is_set() or (self._pid == os.getpid() and self._thread is not None
                                       and self._thread.is_alive()):
                return
            self._pid = os.getpid()
            self._thread = threading.Thread(target=self._run, name="deferred-limits", daemon=True)
            self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(self.sync_interval_s)
            if not self._stop.is_set():
                self.sync()


def init_deferred_limits(app: Flask, enabled: bool, sync_interval_s: float = 0.25):
    """Binds a counter over the limiter's storage to `app`; returns the function that stops it."""
    counter = DeferredCounter(limiter.storage, sync_interval_s) if enabled else None
    app.extensions[EXTENSION] = counter
    return counter.close if counter else (lambda: None)


def limit_llm_deferred(view):
    """Put it right under the route decorator, with `@limiter.exempt` (no per-request MongoDB
    commands from Flask-Limiter on the route)."""

    @wraps(view)
    def wrapper(*args, **kwargs):
        counter: DeferredCounter | None = current_app.extensions.get(EXTENSION)
        if counter is None:
            return view(*args, **kwargs)
        identity = user_or_ip()
        headers = {}
        for item in sorted(parse_many(settings().ratelimit_llm)):
            allowed, remaining, ends = counter.hit(item.key_for(identity, SCOPE), item)
            retry_after = max(1, int(ends - time.time() + 0.999))
            if not allowed:
                return error_response(429, "rate_limited", f"Rate limit exceeded: {item}", headers={
                    "Retry-After": retry_after, "X-RateLimit-Limit": item.amount,
                    "X-RateLimit-Remaining": 0, "X-RateLimit-Reset": int(ends)})
            headers.setdefault("X-RateLimit-Limit", item.amount)
            headers.setdefault("X-RateLimit-Remaining", remaining)
            headers.setdefault("X-RateLimit-Reset", int(ends))
        response = make_response(view(*args, **kwargs))
        for name, value in headers.items():
            response.headers[name] = str(value)
        return response

    return wrapper
