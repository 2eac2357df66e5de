"""Runs one execution of a workflow: nodes in dependency order, independent branches at the
same time, each attempt in its own thread with a timeout and the node's retry policy.

The engine knows nothing of leases or storage: it reports every change to a RunObserver and asks
it, between steps, whether to go on. Nodes that already succeeded (a run resumed after its
worker died) are kept and not run again.
"""
from __future__ import annotations

import logging
import threading
import time
from abc import ABC, abstractmethod
from concurrent.futures import FIRST_COMPLETED, Future, wait
from dataclasses import dataclass
from typing import Any

from entities.clock import utcnow
from entities.deadline import Deadline
from entities.errors import DomainError
from entities.workflow import Edge, Execution, ExecutionStatus, Graph, Node, NodeRun, NodeStatus
from use_cases.workflows.expressions import resolve
from use_cases.workflows.nodes.base import (
    NodeContext,
    NodeError,
    NodeRole,
    code_of,
    describe,
    is_retryable,
)
from use_cases.workflows.nodes.registry import NodeHandlers
from use_cases.workflows.ports import TemplateRenderer
from use_cases.workflows.sizes import SizeBudget, json_size

log = logging.getLogger(__name__)

GO_ON, CANCEL, STOP = "go_on", "cancel", "stop"
TICK_S = 0.1


@dataclass(frozen=True)
class EngineLimits:
    node_timeout_s: float = 60.0  # per attempt, unless the node's config says otherwise
    max_steps: int = 1000  # node attempts in one run, retries included
    max_run_s: float = 600.0
    max_output_bytes: int = 1_000_000  # one node's output, and the execution's outputs
    max_state_bytes: int = 8_000_000  # every node output of one run together (JSON)
    max_parallel: int = 8  # node attempts running at once in one execution


@dataclass
class RunResult:
    status: ExecutionStatus
    outputs: dict[str, Any] | None = None
    error: str | None = None


class RunObserver(ABC):
    @abstractmethod
    def node_changed(self, run: NodeRun, event: str | None) -> None:
        """`event`: node_started, node_completed, node_failed, or None (skipped, cancelled)."""

    @abstractmethod
    def delta(self, node_id: str, text: str) -> None:
        """A piece of an LLM node's reply as it streams (called from the node's thread)."""

    @abstractmethod
    def check(self) -> str:
        """GO_ON; CANCEL (stop, the run is cancelled); or STOP (stop, the run is handed back)."""


def prepare_node_runs(execution: Execution) -> list[NodeRun]:
    """One run per node for a new claim of the execution. Nodes that succeeded in an earlier
    claim are kept. A node that was running when its worker stopped keeps the attempts it made:
    it runs again only while its retry policy allows another attempt, and is failed
    (`interrupted`) otherwise, so a lost worker never makes a node run twice unasked."""
    earlier = {run.node_id: run for run in execution.node_runs}
    runs = []
    for node in execution.graph.nodes:
        run = earlier.get(node.id)
        if run is not None and run.status == NodeStatus.SUCCEEDED:
            runs.append(run)
        elif run is not None and run.status == NodeStatus.RUNNING and run.attempts:
            if run.attempts >= max_attempts(node):
                run.status, run.finished_at = NodeStatus.FAILED, utcnow()
                run.error = (f"interrupted: the worker running it stopped, and its retry policy "
                             f"allows {max_attempts(node)} attempt(s)")
                run.error_code = "interrupted"
            else:
                run.status = NodeStatus.PENDING
            runs.append(run)
        else:
            runs.append(NodeRun(node.id))
    return runs


def max_attempts(node: Node) -> int:
    return int((node.config.get("retry") or {}).get("max_attempts", 1))


@dataclass
class _Attempt:
    node_id: str
    timeout_s: float
    deadline: float
    cancelled: threading.Event


class WorkflowEngine:
    def __init__(self, handlers: NodeHandlers, renderer: TemplateRenderer,
                 limits: EngineLimits = EngineLimits()):
        self.handlers = handlers
        self.renderer = renderer
        self.limits = limits

    def run(self, execution: Execution, observer: RunObserver) -> RunResult | None:
        """The final result, or None when the observer said STOP (the run goes back to a queue)."""
        return _Run(self, execution, observer).run()


class _Run:
    def __init__(self, engine: WorkflowEngine, execution: Execution, observer: RunObserver):
        self.engine = engine
        self.limits = engine.limits
        self.execution = execution
        self.graph: Graph = execution.graph
        self.observer = observer
        self.runs = {run.node_id: run for run in execution.node_runs}
        self.variables: dict[str, Any] = dict(execution.inputs)
        self.state_bytes = 0  # the JSON size of every node output so far
        for run in self.runs.values():
            if run.status == NodeStatus.SUCCEEDED:
                self.variables[run.node_id] = {"output": run.output}
                self.state_bytes += json_size(run.output, self.limits.max_state_bytes)
        self.active: dict[Future, _Attempt] = {}
        self.retry_at: dict[str, float] = {}
        self.steps = 0
        self.failure: str | None = None
        self.deadline = time.monotonic() + self.limits.max_run_s

    def run(self) -> RunResult | None:
        for run in self.runs.values():
            if run.status == NodeStatus.FAILED:  # interrupted earlier (prepare_node_runs)
                self.observer.node_changed(run, "node_failed")
                self.failure = f"Node {run.node_id!r} failed: {run.error}"
        while True:
            verdict = self.observer.check()
            if verdict == STOP:
                self._hand_back()
                return None
            if verdict == CANCEL:
                self._close(NodeStatus.CANCELLED, "cancelled")
                return RunResult(ExecutionStatus.CANCELLED, error="Cancelled on request")
            now = time.monotonic()
            if now > self.deadline:
                self.failure = f"The run took longer than the limit of {self.limits.max_run_s:g} s"
            else:
                self._settle(now)
            if self.failure is None:
                self._schedule(now)
            if self.failure is not None:
                self._close(NodeStatus.CANCELLED, f"stopped: {self.failure}")
                return RunResult(ExecutionStatus.FAILED, error=self.failure)
            if not self.active and not self.retry_at:
                return self._finish()
            if self.active:
                wait(list(self.active), timeout=self._pause(now), return_when=FIRST_COMPLETED)
            else:
                time.sleep(self._pause(now))

    # --- scheduling ---------------------------------------------------------------------------

    def _schedule(self, now: float) -> None:
        progressed = True
        while progressed and self.failure is None:
            progressed = False
            for node in self.graph.nodes:
                run = self.runs[node.id]
                if run.status == NodeStatus.RUNNING and node.id in self.retry_at:
                    if self.retry_at[node.id] <= now and self._has_room():
                        del self.retry_at[node.id]
                        self._start(node)
                    continue
                if run.status != NodeStatus.PENDING or not self._inputs_done(node.id):
                    continue
                incoming = self.graph.incoming(node.id)
                if incoming and not any(self._taken(edge) for edge in incoming):
                    self._skip(run)
                    progressed = True
                elif self._has_room():
                    self._start(node)

    def _has_room(self) -> bool:
        return len(self.active) < self.limits.max_parallel

    def _inputs_done(self, node_id: str) -> bool:
        return all(self.runs[edge.source].status in (NodeStatus.SUCCEEDED, NodeStatus.SKIPPED)
                   for edge in self.graph.incoming(node_id))

    def _taken(self, edge: Edge) -> bool:
        source = self.runs[edge.source]
        if source.status != NodeStatus.SUCCEEDED:
            return False
        return edge.condition is None or bool(source.output) == edge.condition

    def _skip(self, run: NodeRun) -> None:
        run.status = NodeStatus.SKIPPED
        run.finished_at = utcnow()
        self.variables[run.node_id] = {"output": None}
        self.observer.node_changed(run, None)

    def _start(self, node: Node) -> None:
        self.steps += 1
        if self.steps > self.limits.max_steps:
            self.failure = f"The run went over the limit of {self.limits.max_steps} node steps"
            return
        run = self.runs[node.id]
        run.status = NodeStatus.RUNNING
        run.attempts += 1
        if run.attempts == 1:
            run.started_at = utcnow()
            self.observer.node_changed(run, "node_started")
        timeout = min(float(node.config.get("timeout_s") or self.limits.node_timeout_s),
                      max(self.deadline - time.monotonic(), 0.001))
        attempt = _Attempt(node.id, timeout, time.monotonic() + timeout, threading.Event())
        future: Future = Future()
        ctx = self._context(node, attempt)
        threading.Thread(target=self._attempt, args=(node, ctx, future), daemon=True,
                         name=f"node-{node.id}").start()
        self.active[future] = attempt

    def _context(self, node: Node, attempt: _Attempt) -> NodeContext:
        variables = dict(self.variables)
        upstream = {edge.source: self.runs[edge.source].output
                    for edge in self.graph.incoming(node.id)
                    if self.runs[edge.source].status == NodeStatus.SUCCEEDED}
        return NodeContext(
            execution=self.execution, node=node, config=node.config, variables=variables,
            upstream=upstream, timeout_s=attempt.timeout_s,
            deadline=Deadline(attempt.deadline, attempt.cancelled.is_set),
            emit_delta=lambda text: self.observer.delta(node.id, text))

    def _attempt(self, node: Node, ctx: NodeContext, future: Future) -> None:
        try:
            node_type = self.engine.handlers.node(node.type)
            keep = (*node_type.renders_itself, *node_type.literal_keys)
            budget = SizeBudget(self.limits.max_state_bytes)
            try:
                ctx.config = {key: value if key in keep else
                              resolve(value, ctx.variables, self.engine.renderer,
                                      ctx.execution.workspace_id, ctx.deadline, budget)
                              for key, value in node.config.items()}
            except ValueError as error:
                raise NodeError(str(error)) from None
            future.set_result(node_type.run(ctx))
        except (NodeError, DomainError, TimeoutError) as error:
            future.set_exception(error)
        except Exception as error:  # a bug: the node fails, the log says why
            log.exception("node %s (%s) raised", node.id, node.type)
            future.set_exception(error)

    # --- results ------------------------------------------------------------------------------

    def _settle(self, now: float) -> None:
        for future, attempt in list(self.active.items()):
            if future.done():
                del self.active[future]
                error = future.exception()
                if error is None:
                    self._succeeded(attempt.node_id, future.result())
                else:
                    self._attempt_failed(attempt.node_id, describe(error), is_retryable(error),
                                         now, code_of(error))
            elif now >= attempt.deadline:
                del self.active[future]
                # the thread is left to end: sandboxed work is killed at the same deadline,
                # nodes waiting on I/O stop at the cancel flag or their own timeouts
                attempt.cancelled.set()
                self._attempt_failed(attempt.node_id, f"timed out after {attempt.timeout_s:g} s",
                                     True, now, "timeout")

    def _succeeded(self, node_id: str, output: Any) -> None:
        run = self.runs[node_id]
        size = json_size(output, self.limits.max_output_bytes)
        if size > self.limits.max_output_bytes:
            self._failed(run, f"output is over the limit of {self.limits.max_output_bytes} "
                              "bytes (as JSON)", "output_too_large")
            return
        if self.state_bytes + size > self.limits.max_state_bytes:
            self._failed(run, f"the run's node outputs would reach {self.state_bytes + size} "
                              f"bytes, over the limit of {self.limits.max_state_bytes} bytes",
                         "output_too_large")
            return
        self.state_bytes += size
        run.status, run.output, run.error, run.error_code = NodeStatus.SUCCEEDED, output, None, None
        run.finished_at = utcnow()
        self.variables[node_id] = {"output": output}
        self.observer.node_changed(run, "node_completed")

    def _attempt_failed(self, node_id: str, message: str, retryable: bool, now: float,
                        code: str | None = None) -> None:
        run = self.runs[node_id]
        node = self.graph.node(node_id)
        if node is not None and retryable and run.attempts < max_attempts(node):
            run.error, run.error_code = message, code
            backoff = float((node.config.get("retry") or {}).get("backoff_s", 0))
            self.retry_at[node_id] = now + backoff * 2 ** (run.attempts - 1)
            return
        self._failed(run, message, code)

    def _failed(self, run: NodeRun, message: str, code: str | None = None) -> None:
        run.status, run.error, run.error_code = NodeStatus.FAILED, message, code
        run.finished_at = utcnow()
        self.observer.node_changed(run, "node_failed")
        self.failure = f"Node {run.node_id!r} failed: {message}"

    def _finish(self) -> RunResult:
        outputs: dict[str, Any] = {}
        for node in self.graph.nodes:
            run = self.runs[node.id]
            if (self.engine.handlers.registry.role_of(node.type) is NodeRole.OUTPUT
                    and run.status == NodeStatus.SUCCEEDED):
                outputs.update(run.output or {})
        if json_size(outputs, self.limits.max_output_bytes) > self.limits.max_output_bytes:
            return RunResult(ExecutionStatus.FAILED, error=f"outputs are over the limit of "
                             f"{self.limits.max_output_bytes} bytes (as JSON)")
        return RunResult(ExecutionStatus.SUCCEEDED, outputs=outputs)

    # --- stopping -----------------------------------------------------------------------------

    def _hand_back(self) -> None:
        """The worker is stopping: the attempts it stops do not count against the nodes'
        retry policies (the stop was the worker's, not the node's); they run again elsewhere."""
        for attempt in self.active.values():
            run = self.runs[attempt.node_id]
            run.status, run.attempts = NodeStatus.PENDING, run.attempts - 1
        for node_id in self.retry_at:
            self.runs[node_id].status = NodeStatus.PENDING
        self._abandon_active()

    def _abandon_active(self) -> None:
        for attempt in self.active.values():
            attempt.cancelled.set()
        self.active.clear()

    def _close(self, status: NodeStatus, reason: str) -> None:
        """Ends every node still pending or running (they will not run now)."""
        self._abandon_active()
        self.retry_at.clear()
        now = utcnow()
        for run in self.runs.values():
            if run.status in (NodeStatus.PENDING, NodeStatus.RUNNING):
                run.status, run.error = status, reason
                run.finished_at = now if run.started_at else None
                self.observer.node_changed(run, None)

    def _pause(self, now: float) -> float:
        moments = [a.deadline for a in self.active.values()] + list(self.retry_at.values())
        pause = min([TICK_S, *(moment - now for moment in moments)])
        return max(pause, 0.001)

