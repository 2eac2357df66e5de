"""Untrusted work in child processes that can be stopped.

Templates, JSONPath queries and PDF text are computed by a pool of worker processes (pebble's
ProcessPool), never in the API process: a regex or a loop there holds only its own GIL. Each
task runs under
- a wall-clock deadline: past it the worker is killed (SIGTERM, then SIGKILL after 3 s) and
  replaced, so nothing keeps computing once the caller was told it timed out; a caller that is
  cancelled (a run stopped) kills its task the same way;
- a CPU-time limit (RLIMIT_CPU, raised before every task to what the worker used so far plus the
  task's allowance: the kernel ends a worker that passes it with SIGXCPU);
- an address-space limit (RLIMIT_AS: the worker's size once started plus `memory_mb`), so an
  oversized string raises MemoryError in the worker instead of growing the server.
Workers are shared fairly: one tenant (a workspace) runs at most `per_tenant` tasks at once, so a
tenant keeping its tasks busy until their limits leaves the other workers to everyone else.
Workers start from a fork server (a clean single-threaded process with the task modules already
imported, see `TASK_MODULES`), run at a lower priority than the API (nice 10) and with an empty
environment: no secret of the server's is in reach of the code they run.
"""
from __future__ import annotations

import logging
import math
import multiprocessing
import os
import pickle
import resource
import signal
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import CancelledError
from concurrent.futures import TimeoutError as FutureTimeout
from concurrent.futures.process import BrokenProcessPool
from contextlib import contextmanager
from typing import Any, TypeVar

from pebble import ProcessExpired, ProcessFuture, ProcessPool

from entities.deadline import Deadline
from entities.errors import LimitExceeded, ServiceUnavailable

log = logging.getLogger(__name__)

T = TypeVar("T")
# imported once by the fork server, so a replaced worker starts in milliseconds
TASK_MODULES = ["adapters.jinja_sandbox", "adapters.json_query", "adapters.text_extraction",
                "adapters.secret_detector"]
POLL_S = 0.05  # how often a waiting caller checks whether it was cancelled
NICENESS = 10


class ProcessSandbox:
    """`call(task, *args, deadline=..., what=...)` runs `task(*args)` in a worker and returns its
    result; the task's own exceptions (ValueError...) are raised again here. Limits raise
    LimitExceeded with code `timeout`, `cpu_limit` or `memory_limit`.

    `task` and its arguments must be picklable: a module-level function of TASK_MODULES. They
    are pickled here, in the caller's thread, and the result in the worker, inside the task:
    data that cannot be pickled (nested deeper than pickle recurses) raises ValueError to its
    caller instead of killing the pool's scheduling thread, which would stall every caller."""

    def __init__(self, workers: int = 2, memory_mb: int = 256, timeout_s: float = 10.0,
                 max_tasks: int = 1000):
        self.workers = workers
        self.memory_mb = memory_mb
        self.timeout_s = timeout_s
        self.max_tasks = max_tasks  # a worker is replaced after this many tasks (leaks stay small)
        self.per_tenant = max(1, workers // 2)
        self._pool: ProcessPool | None = None
        self._pid: int | None = None
        self._lock = threading.Lock()
        self._tenants = threading.Condition()
        self._running: dict[str, int] = {}  # tasks per tenant now (tenants with none are dropped)

    def call(self, task: Callable[..., T], *args: Any, tenant: str, deadline: Deadline | None = None,
             what: str = "the work") -> T:
        """`tenant`: whose work it is (a workspace id), for the fair share of the workers."""
        deadline = deadline or Deadline.after(self.timeout_s)
        with self._tenant_slot(tenant, deadline, what):
            seconds = min(self.timeout_s, deadline.remaining())
            if seconds <= 0:
                raise LimitExceeded(f"{what} had no time left to run", "timeout")
            future = self._schedule(_pickled((task, args), what), seconds)
            return self._run(future, seconds, deadline, what)

    @contextmanager
    def _tenant_slot(self, tenant: str, deadline: Deadline, what: str) -> Iterator[None]:
        with self._tenants:
            if not self._tenants.wait_for(lambda: self._running.get(tenant, 0) < self.per_tenant,
                                          timeout=deadline.remaining()):
                raise LimitExceeded(f"{what} waited for this workspace's earlier work until its "
                                    "time was up", "timeout")
            self._running[tenant] = self._running.get(tenant, 0) + 1
        try:
            yield
        finally:
            with self._tenants:
                self._running[tenant] -= 1
                if not self._running[tenant]:
                    del self._running[tenant]
                self._tenants.notify_all()

    def _run(self, future: ProcessFuture, seconds: float, deadline: Deadline, what: str) -> Any:
        try:
            while True:
                try:
                    result = future.result(timeout=POLL_S)
                    # as trusted as before: pebble unpickles whatever the worker sends
                    return pickle.loads(result)  # noqa: S301
                except FutureTimeout:
                    if future.done():
                        raise LimitExceeded(f"{what} took longer than {seconds:.3g} s and was "
                                            "stopped", "timeout") from None
                    if deadline.cancelled() or not deadline.remaining():
                        future.cancel()  # kills the worker running it
                        raise LimitExceeded(f"{what} was stopped", "timeout") from None
        except MemoryError:
            raise LimitExceeded(f"{what} needed more than {self.memory_mb} MB of memory",
                                "memory_limit") from None
        except ProcessExpired as error:
            if error.exitcode == -signal.SIGXCPU:
                raise LimitExceeded(f"{what} used more than {math.ceil(seconds)} s of CPU time",
                                    "cpu_limit") from None
            log.warning("sandbox worker ended", extra={"fields": {"exitcode": error.exitcode}})
            raise LimitExceeded(f"{what} ended its worker process (exit code {error.exitcode}), "
                                "most likely by running out of memory", "memory_limit") from None
        except CancelledError:
            raise LimitExceeded(f"{what} was stopped", "timeout") from None
        except BrokenProcessPool:  # the next call starts a new pool
            log.exception("sandbox pool broke")
            raise ServiceUnavailable(f"{what} could not be run: the sandbox is restarting") \
                from None

    def close(self) -> None:
        with self._lock:
            if self._pool is not None and self._pid == os.getpid():
                self._pool.stop()
                self._pool.join(timeout=5)
            self._pool = None

    def _schedule(self, payload: bytes, seconds: float) -> ProcessFuture:
        arguments = (payload, math.ceil(seconds))
        try:
            return self._running_pool().schedule(_limited, args=arguments, timeout=seconds)
        except RuntimeError:  # the pool broke (its workers could not start): a new one
            log.warning("sandbox pool was broken; starting a new one")
            self.close()
            return self._running_pool().schedule(_limited, args=arguments, timeout=seconds)

    def _running_pool(self) -> ProcessPool:
        """The pool of this process, created on first use (after gunicorn forked the worker)."""
        if self._pool is not None and self._pid == os.getpid():
            return self._pool
        with self._lock:
            if self._pool is None or self._pid != os.getpid():
                context = multiprocessing.get_context("forkserver")
                context.set_forkserver_preload(TASK_MODULES)
                self._pool = ProcessPool(max_workers=self.workers, max_tasks=self.max_tasks,
                                         initializer=_start_worker, initargs=(self.memory_mb,),
                                         context=context)
                self._pid = os.getpid()
            return self._pool


def _start_worker(memory_mb: int) -> None:
    """In each new worker: no environment, lower priority, and the address-space limit."""
    os.environ.clear()
    os.nice(NICENESS)
    with open("/proc/self/statm") as statm:
        size = int(statm.read().split()[0]) * resource.getpagesize()
    limit = size + memory_mb * 1024 * 1024
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))


def _pickled(value: Any, what: str) -> bytes:
    """`value` pickled; ValueError when it cannot be (e.g. nested deeper than pickle recurses)."""
    try:
        return pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)
    except (RecursionError, pickle.PicklingError, TypeError, AttributeError) as error:
        raise ValueError(f"{what}: its data cannot be passed to or from the sandbox, most "
                         f"likely nested too deeply ({type(error).__name__})") from None


def _limited(payload: bytes, cpu_s: int) -> bytes:
    """Runs in the worker: the pickled `(task, args)` in `payload`, with `cpu_s` more seconds of
    CPU time than used so far; returns the pickled result."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    used = math.ceil(usage.ru_utime + usage.ru_stime)
    _soft, hard = resource.getrlimit(resource.RLIMIT_CPU)
    resource.setrlimit(resource.RLIMIT_CPU, (used + cpu_s, hard))
    task, args = pickle.loads(payload)  # noqa: S301 - pickled by ProcessSandbox.call
    return _pickled(task(*args), "its result")
