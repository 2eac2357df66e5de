"""What an execution tells the world while it runs.

`execution:{id}` carries the live feed of the executions WebSocket (node_started, node_completed,
node_failed, delta, execution_completed|failed|cancelled). When a run ends, its creator's feed
(`user:{id}`) and the workspace (`workspace:{id}`, read by webhooks) get
`workflow.execution.completed` or `workflow.execution.failed`. A lost notification is logged,
never a reason to fail the run.
"""
from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from entities.workflow import Execution, ExecutionStatus, NodeRun
from use_cases.ports import EventBus

log = logging.getLogger(__name__)

TERMINAL_EVENTS = {
    ExecutionStatus.SUCCEEDED: "execution_completed",
    ExecutionStatus.FAILED: "execution_failed",
    ExecutionStatus.CANCELLED: "execution_cancelled",
}
WEBHOOK_EVENTS = {
    ExecutionStatus.SUCCEEDED: "workflow.execution.completed",
    ExecutionStatus.FAILED: "workflow.execution.failed",
}


def execution_topic(execution_id: str) -> str:
    return f"execution:{execution_id}"


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None  # as the HTTP responses write it


def node_run_view(run: NodeRun) -> dict[str, Any]:
    return {"node_id": run.node_id, "status": run.status.value, "started_at": _iso(run.started_at),
            "finished_at": _iso(run.finished_at), "output": run.output, "error": run.error,
            "attempts": run.attempts}


def execution_view(execution: Execution) -> dict[str, Any]:
    """The execution as API.md shows it, JSON-ready."""
    return {
        "id": execution.id, "workflow_id": execution.workflow_id,
        "workflow_version": execution.workflow_version, "workspace_id": execution.workspace_id,
        "status": execution.status.value, "inputs": execution.inputs, "outputs": execution.outputs,
        "node_runs": [node_run_view(run) for run in execution.node_runs],
        "error": execution.error, "created_by": execution.created_by,
        "created_at": _iso(execution.created_at), "started_at": _iso(execution.started_at),
        "finished_at": _iso(execution.finished_at), "duration_ms": execution.duration_ms,
    }


def is_terminal_event(event: dict) -> bool:
    return event.get("type") in TERMINAL_EVENTS.values()


class ExecutionEvents:
    def __init__(self, bus: EventBus):
        self.bus = bus

    def node(self, execution_id: str, run: NodeRun, event: str) -> None:
        self._publish(execution_topic(execution_id),
                      {"type": event, "execution_id": execution_id, **node_run_view(run)})

    def delta(self, execution_id: str, node_id: str, content: str) -> None:
        self._publish(execution_topic(execution_id), {"type": "delta", "execution_id": execution_id,
                                                      "node_id": node_id, "content": content})

    def finished(self, execution: Execution) -> None:
        view = execution_view(execution)
        self._publish(execution_topic(execution.id),
                      {"type": TERMINAL_EVENTS[execution.status], "execution": view})
        kind = WEBHOOK_EVENTS.get(execution.status)
        if kind is None:
            return
        summary = {key: view[key] for key in ("workflow_id", "workflow_version", "status",
                                              "outputs", "error", "duration_ms", "created_by",
                                              "started_at", "finished_at")}
        summary = {"type": kind, "execution_id": execution.id, **summary}
        self._publish(f"user:{execution.created_by}", summary)
        self._publish(f"workspace:{execution.workspace_id}",
                      {**summary, "workspace_id": execution.workspace_id})

    def _publish(self, topic: str, event: dict) -> None:
        try:
            self.bus.publish(topic, event)
        except Exception:
            log.exception("could not publish %s", event.get("type"))

