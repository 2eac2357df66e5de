"""Jobs run on their own daemon thread in the process that accepted them, at most `limit` at
once per process (a request beyond it is refused with 503, to retry). Each job holds a lease in
its document that it extends as it progresses; a job whose process died stops extending it, and
the next read of its status fails it with a reason, so no job stays `running` forever."""
from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from entities.errors import ServiceUnavailable

log = logging.getLogger(__name__)


class BackgroundJobs:
    def __init__(self, limit: int, name: str):
        self.limit = limit
        self.name = name
        self._slots = threading.BoundedSemaphore(max(limit, 1))

    def reserve(self) -> None:
        """Takes a slot for a job about to start; ServiceUnavailable when all are busy."""
        if not self._slots.acquire(blocking=False):
            raise ServiceUnavailable(f"Too many {self.name} jobs are running; retry in a minute")

    def release(self) -> None:
        self._slots.release()

    def start(self, job: Callable[[], None]) -> threading.Thread:
        """Runs `job` (its slot reserved) on a daemon thread; the slot is freed when it ends.
        ServiceUnavailable (the slot freed) when no thread can be started."""
        def run() -> None:
            try:
                job()
            except Exception:  # the job records its own failure; this is a last resort
                log.exception("%s job failed", self.name)
            finally:
                self._slots.release()

        thread = threading.Thread(target=run, name=f"{self.name}-job", daemon=True)
        try:
            thread.start()
        except RuntimeError:  # the process cannot start another thread: the slot stays free
            self._slots.release()
            log.exception("could not start a %s job", self.name)
            raise ServiceUnavailable(f"Too many {self.name} jobs are running; "
                                     "retry in a minute") from None
        return thread
