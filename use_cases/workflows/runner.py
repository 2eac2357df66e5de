"""Executes queued runs in a bounded pool of threads, holding each run with a lease.

A run is leased to one worker (`worker_id`, `lease_until`) and the worker extends the lease
(`heartbeat`) while it runs. A run whose worker died stops being extended; once its lease has
expired any worker claims it again and resumes it (nodes that succeeded are kept). After
`max_claims` claims the run is failed with a reason instead of being tried forever, so no run is
left `running`.

The API process runs one of these (threads started lazily, after gunicorn forked it); dedicated
workers (`flask --app app worker`) run one each. They share nothing but the database: a new
run is either reserved by the process that created it (when it has a free thread, saving a
round trip) or announced on the event bus, and every runner also polls for work.
"""
from __future__ import annotations

import logging
import os
import socket
import threading
import time
import uuid
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import wait as wait_all
from dataclasses import dataclass, field

from entities.clock import utcnow
from entities.errors import PayloadTooLarge
from entities.workflow import Execution, ExecutionStatus, NodeRun
from use_cases.shared.ports import EventBus, Subscription
from use_cases.workflows.engine import CANCEL, GO_ON, STOP, RunObserver, WorkflowEngine, prepare_node_runs
from use_cases.workflows.events import ExecutionEvents, delta_event, node_event
from use_cases.workflows.ports import ExecutionRepository

log = logging.getLogger(__name__)

QUEUE_TOPIC = "workflows:queue"
ENGINE_FAILED = "The workflow engine failed unexpectedly while running this execution"


@dataclass
class RunHandle:
    """A run handed to this process's pool: `done` is set when it is over here; `result` is the
    finished execution as stored (None if it was handed back, cancelled before starting...)."""

    done: threading.Event = field(default_factory=threading.Event)
    result: Execution | None = None


class ExecutionRunner:
    def __init__(self, executions: ExecutionRepository, engine: WorkflowEngine,
                 events: ExecutionEvents, bus: EventBus, threads: int,
                 lease_s: float = 30.0, heartbeat_s: float = 1.0, poll_s: float = 1.0,
                 max_claims: int = 3, event_interval_s: float = 0.2):
        self.executions = executions
        self.engine = engine
        self.events = events
        self.bus = bus
        self.threads = threads
        self.lease_s = lease_s
        self.heartbeat_s = heartbeat_s
        self.poll_s = poll_s
        self.max_claims = max_claims
        self.event_interval_s = event_interval_s
        self.worker_id = ""
        self._pid: int | None = None
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._wake = threading.Event()
        self._backlog = threading.Event()  # runs may be queued for want of a free thread
        self._slots = threading.BoundedSemaphore(max(threads, 1))
        self._pool: ThreadPoolExecutor | None = None
        self._futures: set[Future] = set()
        self._active: dict[str, _LeasedRun] = {}
        self._subscription: Subscription | None = None

    # --- life cycle ---------------------------------------------------------------------------

    @property
    def stopping(self) -> bool:
        return self._stopping.is_set()

    def ensure_started(self) -> bool:
        """Starts the threads in this process (again after a fork); False when disabled."""
        if self.threads <= 0 or self._stopping.is_set():
            return False
        if self._pid == os.getpid():
            return True
        with self._lock:
            if self._pid == os.getpid():
                return True
            self.worker_id = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"
            self._slots = threading.BoundedSemaphore(self.threads)
            self._pool = ThreadPoolExecutor(self.threads, thread_name_prefix="workflow-run")
            self._futures = set()
            self._active = {}
            threading.Thread(target=self._dispatch, name="workflow-dispatch", daemon=True).start()
            threading.Thread(target=self._listen, name="workflow-wake", daemon=True).start()
            self._pid = os.getpid()
        return True

    def stop(self, timeout_s: float = 10.0) -> None:
        """Stops claiming; runs in progress are handed back at once for another worker."""
        self._stopping.set()
        self._wake.set()
        if self._subscription is not None:
            self._subscription.close()
        if self._pid == os.getpid() and self._futures:
            wait_all(list(self._futures), timeout=timeout_s)

    def wake(self) -> None:
        self._wake.set()

    def start(self, threads: int) -> None:
        """For dedicated workers, whatever the API processes' thread count."""
        self.threads = threads
        self.ensure_started()

    def serve_forever(self) -> None:
        """For dedicated workers: block until stop() is called (from a signal handler)."""
        while not self._stopping.wait(1.0):
            pass

    # --- work created in this process ---------------------------------------------------------

    def reserve(self) -> str | None:
        """This worker's id if it has a free thread for a new run (then hand the stored run to
        run_reserved, or call unreserve), else None."""
        if not self.ensure_started():
            return None
        if not self._slots.acquire(blocking=False):
            self._backlog.set()
            return None
        return self.worker_id

    def unreserve(self) -> None:
        self._slots.release()

    def run_reserved(self, execution: Execution) -> RunHandle:
        """Runs a stored run this worker reserved."""
        return self._submit(execution)

    def cancel_local(self, execution_id: str) -> bool:
        run = self._active.get(execution_id)
        if run is not None:
            run.cancelled.set()
        return run is not None

    # --- threads ------------------------------------------------------------------------------

    def _submit(self, execution: Execution) -> RunHandle:
        handle = RunHandle()
        assert self._pool is not None, "ensure_started() comes first"
        future = self._pool.submit(self._run, execution, handle)
        self._futures.add(future)
        future.add_done_callback(self._futures.discard)
        return handle

    def _dispatch(self) -> None:
        next_sweep = 0.0
        while not self._stopping.is_set():
            try:
                if time.monotonic() >= next_sweep:
                    self._sweep()
                    next_sweep = time.monotonic() + max(self.lease_s / 2, self.poll_s)
                self._claim_while_free()
            except Exception:  # the database may be away for a while: keep trying
                log.exception("workflow dispatcher could not reach the database")
            self._wake.wait(self.poll_s)
            self._wake.clear()

    def _claim_while_free(self) -> None:
        while not self._stopping.is_set() and self._slots.acquire(blocking=False):
            try:
                execution = self.executions.claim(self.worker_id, self.lease_s, self.max_claims)
            except Exception:
                self._slots.release()
                raise
            if execution is None:
                self._slots.release()
                self._backlog.clear()
                return
            log.info("claimed execution %s (claim %d)", execution.id, execution.claims)
            self._submit(execution)

    def _sweep(self) -> None:
        reason = (f"The worker running this execution stopped responding, {self.max_claims} "
                  "times; it was not retried again")
        for execution in self.executions.fail_abandoned(self.max_claims, reason):
            log.warning("execution %s failed: abandoned %d times", execution.id, execution.claims)
            self.events.finished(execution)

    def _listen(self) -> None:
        """Wakes the dispatcher when another process queues a run."""
        assert self.bus is not None, "started only with a bus"
        try:
            self._subscription = self.bus.subscribe([QUEUE_TOPIC])
            while not self._stopping.is_set() and not self._subscription.closed:
                if self._subscription.get(timeout=1.0) is not None:
                    self._backlog.set()
                    self._wake.set()
        except Exception:
            log.exception("workflow runner stopped listening for queued runs; polling only")

    def _run(self, execution: Execution, handle: RunHandle) -> None:
        run = None
        try:
            execution.node_runs = prepare_node_runs(execution)
            execution.status = ExecutionStatus.RUNNING
            execution.started_at = execution.started_at or utcnow()
            if not self.executions.begin(execution, self.worker_id, self.lease_s):
                return  # cancelled before it started, or taken over
            run = _LeasedRun(self, execution)
            self._active[execution.id] = run
            result = self.engine.run(execution, run)
            if result is None:
                run.flush()
                if not run.lost:
                    self.executions.release(execution.id, self.worker_id, execution.node_runs)
                return
            if self._finish(execution, result.status, result.outputs, result.error,
                            run.take_pending()):
                handle.result = execution
        except Exception:
            log.exception("execution %s: the engine failed", execution.id)
            if run is None or not run.lost:
                self._finish(execution, ExecutionStatus.FAILED, None, ENGINE_FAILED)
        finally:
            self._active.pop(execution.id, None)
            handle.done.set()
            self._slots.release()
            if self._backlog.is_set():
                self._wake.set()

    def _finish(self, execution: Execution, status: ExecutionStatus, outputs: dict | None,
                error: str | None, pending: list[dict] | None = None) -> bool:
        execution.status, execution.outputs, execution.error = status, outputs, error
        execution.finished_at = utcnow()
        started = execution.started_at or execution.finished_at
        execution.duration_ms = round((execution.finished_at - started).total_seconds() * 1000, 1)
        try:
            try:
                finished = self.executions.finish(execution, self.worker_id)
            except PayloadTooLarge as error:  # deterministic: fail once, keep what fits
                _drop_outputs(execution, error.message)
                finished = self.executions.finish(execution, self.worker_id)
        except Exception:
            log.exception("execution %s: could not store its end; its lease will expire",
                          execution.id)
            return False
        if finished:
            self.events.finished(execution, pending)
        return finished


def _drop_outputs(execution: Execution, reason: str) -> None:
    """The run, failed with `reason`, without the node outputs that made it too large."""
    execution.status, execution.outputs, execution.error = ExecutionStatus.FAILED, None, reason
    for run in execution.node_runs:
        run.output = None


class _LeasedRun(RunObserver):
    """Between engine steps: heartbeats, cancel checks, and the run's events, published in
    batches at most every `event_interval_s` (and at the end, with the terminal event)."""

    def __init__(self, runner: ExecutionRunner, execution: Execution):
        self.runner = runner
        self.execution = execution
        self.cancelled = threading.Event()
        if execution.cancel_requested:  # asked for while no worker held the run
            self.cancelled.set()
        self.lost = False
        self.next_beat = time.monotonic() + runner.heartbeat_s
        self._pending: list[dict] = []
        self._pending_lock = threading.Lock()
        self._publish_lock = threading.Lock()  # batches leave in the order they were taken
        self._last_flush = time.monotonic()

    def node_changed(self, run: NodeRun, event: str | None) -> None:
        if event is not None:
            self._add(node_event(self.execution.id, run, event))

    def delta(self, node_id: str, text: str) -> None:
        self._add(delta_event(self.execution.id, node_id, text))

    def _add(self, event: dict) -> None:
        with self._pending_lock:
            last = self._pending[-1] if self._pending else None
            if (event["type"] == "delta" and last is not None and last["type"] == "delta"
                    and last["node_id"] == event["node_id"]):
                last["content"] += event["content"]
            else:
                self._pending.append(event)
        self.flush(only_if_due=True)

    def take_pending(self) -> list[dict]:
        with self._pending_lock:
            events, self._pending = self._pending, []
        return events

    def flush(self, only_if_due: bool = False) -> None:
        with self._publish_lock:
            with self._pending_lock:
                due = time.monotonic() - self._last_flush >= self.runner.event_interval_s
                if not self._pending or (only_if_due and not due):
                    return
                events, self._pending = self._pending, []
                self._last_flush = time.monotonic()
            self.runner.events.publish(self.execution.id, events)

    def check(self) -> str:
        self.flush(only_if_due=True)
        if self.runner.stopping:
            return STOP
        if self.cancelled.is_set():
            return CANCEL
        if time.monotonic() < self.next_beat:
            return GO_ON
        self.next_beat = time.monotonic() + self.runner.heartbeat_s
        try:
            try:
                state = self.runner.executions.heartbeat(
                    self.execution.id, self.runner.worker_id, self.runner.lease_s,
                    self.execution.node_runs)
            except PayloadTooLarge:  # the lease at least; the end of the run says why
                state = self.runner.executions.heartbeat(
                    self.execution.id, self.runner.worker_id, self.runner.lease_s)
        except Exception:  # the lease still runs; try again at the next beat
            log.warning("execution %s: heartbeat failed", self.execution.id)
            return GO_ON
        if state == "cancel":
            return CANCEL
        if state == "lost":
            log.warning("execution %s: lease lost to another worker", self.execution.id)
            self.lost = True
            return STOP
        return GO_ON
