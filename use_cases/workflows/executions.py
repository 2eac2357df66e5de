"""Running workflows: execute (members), read and watch (viewers), cancel (members)."""
from __future__ import annotations

from dataclasses import replace
from typing import Any

from entities.actor import Actor
from entities.clock import utcnow
from entities.deadline import Deadline
from entities.errors import Conflict, NotFound, ValidationFailed
from entities.pagination import Page, PageRequest
from entities.workflow import Execution
from entities.workspace import WorkspaceRole
from use_cases.shared.ports import EventBus, Subscription
from use_cases.workflows.events import ExecutionEvents, execution_topic, is_terminal_event, unpack
from use_cases.workflows.ports import ExecutionRepository
from use_cases.workflows.runner import QUEUE_TOPIC, ExecutionRunner, RunHandle
from use_cases.workflows.validation import check_inputs, unfilled_secrets
from use_cases.workflows.workflows import Workflows
from use_cases.workspaces.access import WorkspaceAccess

CANCEL_POLL_S = 0.2  # how often a wait looks whether its deadline was cancelled


class Executions:
    def __init__(self, workflows: Workflows, executions: ExecutionRepository,
                 access: WorkspaceAccess, runner: ExecutionRunner, events: ExecutionEvents,
                 bus: EventBus, wait_s: float = 30.0, cancel_wait_s: float = 5.0):
        self.workflows = workflows
        self.executions = executions
        self.access = access
        self.runner = runner
        self.events = events
        self.bus = bus
        self.wait_s = wait_s
        self.cancel_wait_s = cancel_wait_s

    def execute(self, actor: Actor, workflow_id: str, inputs: dict[str, Any],
                wait: bool = False, until: Deadline | None = None) -> Execution:
        """The queued run; with `wait`, the run once finished (or as it is after `wait_s`, or
        at `until` when given: then also as soon as `until` is cancelled, e.g. a user's stop)."""
        workflow, _ = self.workflows.require(actor.user_id, workflow_id, WorkspaceRole.MEMBER)
        if not workflow.is_active:
            raise Conflict("This workflow is not active; activate it to run it")
        unfilled = unfilled_secrets(workflow.graph)
        if unfilled:  # installed from a template: the author's credentials were not published
            raise ValidationFailed(
                "Fill in this workflow's secret placeholders before running it",
                {"secrets": [f"Replace {{{{ secret.{name} }}}} with your value." for name in unfilled]})
        execution = Execution(
            id="", workflow_id=workflow.id, workflow_version=workflow.version,
            workspace_id=workflow.workspace_id, created_by=actor.user_id, graph=workflow.graph,
            inputs=check_inputs(workflow.graph, inputs), created_at=utcnow())
        reserved_by = self.runner.reserve()
        try:
            execution = self.executions.add(execution, reserved_by, self.runner.lease_s)
        except BaseException:
            if reserved_by:
                self.runner.unreserve()
            raise
        if reserved_by:
            handle = self.runner.run_reserved(replace(execution))  # the runner's copy changes
        else:
            self.bus.publish(QUEUE_TOPIC, {"type": "execution_queued", "execution_id": execution.id})
            handle = None
        if not wait:
            return execution
        return self._wait_for_end(execution, handle, until)

    def get(self, actor: Actor, execution_id: str,
            minimum: WorkspaceRole = WorkspaceRole.VIEWER) -> Execution:
        execution = self.executions.get(execution_id)
        if execution is None:
            raise NotFound("Execution not found")
        try:
            self.access.require(actor.user_id, execution.workspace_id, minimum)
        except NotFound:
            raise NotFound("Execution not found") from None
        return execution

    def list(self, actor: Actor, workflow_id: str, page: PageRequest) -> Page[Execution]:
        workflow, _ = self.workflows.require(actor.user_id, workflow_id, WorkspaceRole.VIEWER)
        return self.executions.list_for_workflow(workflow.id, page)

    def watch(self, actor: Actor, execution_id: str) -> tuple[Subscription, Execution]:
        """A subscription to the run's events, opened before its snapshot is read so that no
        event falls between the two; NotFound (and nothing open) for a run the caller may not see."""
        subscription = self.bus.subscribe([execution_topic(execution_id)])
        try:
            return subscription, self.get(actor, execution_id)
        except BaseException:
            subscription.close()
            raise

    def cancel(self, actor: Actor, execution_id: str) -> Execution:
        execution = self.get(actor, execution_id, WorkspaceRole.MEMBER)
        if execution.status.finished:
            return execution
        cancelled = self.executions.cancel_if_idle(execution_id)
        if cancelled is not None:
            self.events.finished(cancelled)
            return cancelled
        with self.bus.subscribe([execution_topic(execution_id)]) as subscription:
            if self.executions.request_cancel(execution_id) is not None:
                self.runner.cancel_local(execution_id)
                _until_terminal(subscription, Deadline.after(self.cancel_wait_s))
        return self.get(actor, execution_id)

    def _wait_for_end(self, execution: Execution, handle: RunHandle | None,
                      until: Deadline | None) -> Execution:
        until = until or Deadline.after(self.wait_s)
        if handle is not None:
            while (remaining := until.remaining()) > 0 and not until.cancelled():
                if handle.done.wait(min(remaining, CANCEL_POLL_S)):
                    if handle.result is not None:
                        return handle.result
                    break
        else:
            with self.bus.subscribe([execution_topic(execution.id)]) as subscription:
                current = self.executions.get(execution.id)
                if current is not None and not current.status.finished:
                    _until_terminal(subscription, until)
        return self.executions.get(execution.id) or execution


def _until_terminal(subscription: Subscription, until: Deadline) -> None:
    while not subscription.closed and not until.cancelled():
        remaining = until.remaining()
        if remaining <= 0:
            return
        event = subscription.get(timeout=min(remaining, CANCEL_POLL_S))
        if event is not None and any(is_terminal_event(e) for e in unpack(event)):
            return
