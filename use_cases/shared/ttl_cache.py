"""A small thread-safe in-process cache whose entries expire after a few seconds.

Hot paths (API-key verification, budget checks) read through it, so they reach the database at
most once per entry and TTL in each process; a change made elsewhere shows within the TTL.
"""
from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Any


class TtlCache:
    def __init__(self, ttl_s: float, max_size: int = 10_000,
                 clock: Callable[[], float] = time.monotonic):
        self.ttl_s = ttl_s
        self.max_size = max_size
        self.clock = clock
        self._entries: OrderedDict[Hashable, tuple[float, Any]] = OrderedDict()
        self._lock = threading.Lock()

    def get_or_load(self, key: Hashable, load: Callable[[], Any]) -> Any:
        """The cached value, or `load()`'s (cached unless the TTL is 0). Two threads missing
        at once may both load; the later value wins, which is harmless for a read cache."""
        now = self.clock()
        with self._lock:
            entry = self._entries.get(key)
            if entry is not None and entry[0] > now:
                return entry[1]
        value = load()
        if self.ttl_s > 0:
            with self._lock:
                self._entries[key] = (self.clock() + self.ttl_s, value)
                self._entries.move_to_end(key)
                while len(self._entries) > self.max_size:
                    self._entries.popitem(last=False)
        return value

    def update(self, key: Hashable, change: Callable[[Any], Any]) -> None:
        """Changes a live entry in place (keeping its expiry); nothing when there is none."""
        with self._lock:
            entry = self._entries.get(key)
            if entry is not None and entry[0] > self.clock():
                self._entries[key] = (entry[0], change(entry[1]))

    def pop(self, key: Hashable) -> None:
        with self._lock:
            self._entries.pop(key, None)

    def discard_where(self, stale: Callable[[Hashable, Any], bool]) -> None:
        """Drops every entry for which `stale(key, value)` is true."""
        with self._lock:
            for key in [key for key, (_expiry, value) in self._entries.items() if stale(key, value)]:
                del self._entries[key]
