"""Group commit: writes that must be durable before a caller goes on, shared between callers.

Each model call must store its usage record and settle its spend before its reply is reported
complete; one database round trip per call would cap throughput at the database's write rate.
Here any number of threads submit items; one writer thread writes whatever has gathered in one
batch (while a batch is being written, the next one gathers), and each submitter returns once
the batch holding its item is written — with what the write returned for the whole batch (e.g.
totals read back once for all its items) — or raises that batch's error. So concurrent calls share
round trips and a lone call waits for one write, as it would without batching.
"""
from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable
from typing import Generic, TypeVar

log = logging.getLogger(__name__)

T = TypeVar("T")
R = TypeVar("R")


class Batch(Generic[T, R]):
    """The batch an item went into: `wait()` for its write."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.items: list[T] = []
        self.done = threading.Event()
        self.result: R | None = None
        self.error: BaseException | None = None

    def wait(self, timeout_s: float = 30.0) -> R | None:
        """What `write` returned for this batch, once written; raises the write's error
        (TimeoutError if the writer did not finish in `timeout_s`)."""
        if not self.done.wait(timeout_s):
            raise TimeoutError(f"{self.name}: the write did not finish in {timeout_s} s")
        if self.error is not None:
            raise self.error
        return self.result


class GroupCommit(Generic[T, R]):
    def __init__(self, write: Callable[[list[T]], R], name: str):
        self.write = write  # writes a batch, of any size, or raises
        self.name = name
        self._gathering: Batch[T, R] = Batch(name)
        self._lock = threading.Condition()
        self._thread: threading.Thread | None = None
        self._pid: int | None = None

    def submit(self, item: T, timeout_s: float = 30.0) -> R | None:
        """Returns once `item` is written, with what `write` returned for its batch; raises the
        write's error (TimeoutError if the writer did not finish in `timeout_s`)."""
        return self.enqueue(item).wait(timeout_s)

    def enqueue(self, item: T) -> Batch[T, R]:
        """Adds `item` to the gathering batch without waiting (a caller with two writes to make
        waits for both at once)."""
        with self._lock:
            self._ensure_writer()
            batch = self._gathering
            batch.items.append(item)
            self._lock.notify()
        return batch

    def _ensure_writer(self) -> None:
        """Started on first use, and again in a forked worker (threads do not survive fork)."""
        if self._pid != os.getpid() or self._thread is None or not self._thread.is_alive():
            self._pid = os.getpid()
            self._gathering = Batch(self.name)
            self._thread = threading.Thread(target=self._run, name=self.name, daemon=True)
            self._thread.start()

    def _run(self) -> None:
        while True:
            with self._lock:
                while not self._gathering.items:
                    self._lock.wait()
                batch, self._gathering = self._gathering, Batch(self.name)
            try:
                batch.result = self.write(batch.items)
            except BaseException as error:  # handed to every submitter of the batch
                batch.error = error
            batch.done.set()
