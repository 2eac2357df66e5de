"""Usage records leave the request path at once and reach the database in batches.

`record()` only appends to an in-process queue; a background thread writes a batch every
`flush_interval` seconds, or sooner once `batch_size` records wait. A failed write keeps its
batch for the next attempt (with growing pauses); only a queue over `max_pending` sheds its
oldest records, and says so in the log.
"""
from __future__ import annotations

import logging
import os
import threading
from collections import deque
from datetime import UTC, datetime

from entities.llm import UsageRecord
from use_cases.gateway.group_commit import GroupCommit
from use_cases.gateway.ports import UsageRepository

log = logging.getLogger(__name__)

MAX_RETRY_PAUSE_S = 30.0


class UsageRecorder:
    def __init__(self, repository: UsageRepository, flush_interval: float = 0.5,
                 batch_size: int = 100, max_pending: int = 100_000):
        self.repository = repository
        self.flush_interval = flush_interval
        self.batch_size = batch_size
        self.max_pending = max_pending
        self._pending: deque[UsageRecord] = deque()
        self._lock = threading.Lock()  # guards _pending
        self._write_lock = threading.Lock()  # one batch in flight at a time
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._pid: int | None = None
        self._failures = 0
        # durable records of concurrent calls share one insert; each call waits for its own
        self._durable: GroupCommit[UsageRecord, object] = GroupCommit(repository.add_many, "usage-commit")

    def record(self, record: UsageRecord, durable: bool = False) -> None:
        """Queues the record for the next batch; `durable`: writes it now, before returning
        (a finished call's usage must survive the worker; if the database refuses, the record is
        queued and retried like any other)."""
        if record.created_at is None:
            record.created_at = datetime.now(UTC)
        if durable:
            try:
                self._durable.submit(record)
                return
            except Exception:
                log.exception("could not write a usage record at once; queued for retry")
        with self._lock:
            self._pending.append(record)
            overflow = len(self._pending) - self.max_pending
            for _ in range(max(0, overflow)):
                self._pending.popleft()
            waiting = len(self._pending)
        if overflow > 0:
            log.error("usage queue full: dropped %d oldest usage records", overflow)
        if self._stop.is_set():  # after close(): nothing will come back for it
            self.flush()
            return
        self._ensure_thread()
        if waiting >= self.batch_size and not self._failures:
            self._wake.set()

    @property
    def pending(self) -> int:
        with self._lock:
            return len(self._pending)

    def flush(self) -> bool:
        """Write everything queued now; False (records kept for the next try) on a DB error."""
        with self._write_lock:
            while True:
                with self._lock:
                    batch = [self._pending.popleft()
                             for _ in range(min(self.batch_size, len(self._pending)))]
                if not batch:
                    self._failures = 0
                    return True
                try:
                    self.repository.add_many(batch)
                except Exception:
                    with self._lock:
                        self._pending.extendleft(reversed(batch))
                    self._failures += 1
                    log.exception("could not write %d usage records (attempt %d); will retry",
                                  len(batch), self._failures)
                    return False

    def close(self, timeout: float = 5.0) -> None:
        """Stop the background thread and write what is left."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None and self._thread.is_alive():
            self._thread.join(timeout)
        if not self.flush():
            log.error("%d usage records could not be written before shutdown", self.pending)

    def _ensure_thread(self) -> None:
        """Started on first use, and again in a forked worker (threads do not survive fork)."""
        if self._pid == os.getpid() and self._thread is not None and self._thread.is_alive():
            return
        with self._lock:
            if self._pid == os.getpid() and self._thread is not None and self._thread.is_alive():
                return
            if self._stop.is_set():
                return
            self._pid = os.getpid()
            self._thread = threading.Thread(target=self._run, name="usage-recorder", daemon=True)
            self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            pause = self.flush_interval
            if self._failures:
                pause = min(self.flush_interval * 2 ** self._failures, MAX_RETRY_PAUSE_S)
            self._wake.wait(pause)
            self._wake.clear()
            if not self._stop.is_set():
                self.flush()
