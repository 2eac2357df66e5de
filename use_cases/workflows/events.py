"""What an execution tells the world while it runs.

`execution:{id}` carries the live feed of the executions WebSocket (node_started, node_completed,
node_failed, delta, execution_completed|failed|cancelled). When a run ends, its creator's feed
(`user:{id}`) and the workspace (`workspace:{id}`, read by webhooks) get
`workflow.execution.completed` or `workflow.execution.failed`. A lost notification is logged,
never a reason to fail the run.

Events of a run travel in batches (`{"type": "batch", "events": [...]}`), flushed every few tens
of milliseconds: a short run costs one database write for its whole live feed. Consumers
`unpack` them; WebSocket clients see single events.
"""
from __future__ import annotations

import json
import logging
from datetime import datetime
from typing import Any

from entities.workflow import Execution, ExecutionStatus, NodeRun
from use_cases.shared.ports import EventBus

log = logging.getLogger(__name__)

TERMINAL_EVENTS = {
    ExecutionStatus.SUCCEEDED: "execution_completed",
    ExecutionStatus.FAILED: "execution_failed",
    ExecutionStatus.CANCELLED: "execution_cancelled",
}
BATCH = "batch"
EVENT_OUTPUT_LIMIT = 64 * 1024
WEBHOOK_EVENTS = {
    ExecutionStatus.SUCCEEDED: "workflow.execution.completed",
    ExecutionStatus.FAILED: "workflow.execution.failed",
}


def execution_topic(execution_id: str) -> str:
    return f"execution:{execution_id}"


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None  # as the HTTP responses write it


def node_run_view(run: NodeRun) -> dict[str, Any]:
    """A node run for events: an output over EVENT_OUTPUT_LIMIT is left out (`output_truncated`;
    GET /executions/{id} has it), so a batch of events stays far below MongoDB's 16 MB."""
    view = {"node_id": run.node_id, "status": run.status.value,
            "started_at": _iso(run.started_at), "finished_at": _iso(run.finished_at),
            "output": run.output, "error": run.error, "attempts": run.attempts}
    if run.output is not None and len(json.dumps(run.output, default=str)) > EVENT_OUTPUT_LIMIT:
        view.update(output=None, output_truncated=True)
    return view


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


def unpack(event: dict) -> list[dict]:
    """The events a bus message carries: one, or the `batch` a run published in one go."""
    if event.get("type") == BATCH:
        return list(event.get("events", []))
    return [event]


def node_event(execution_id: str, run: NodeRun, event: str) -> dict:
    return {"type": event, "execution_id": execution_id, **node_run_view(run)}


def delta_event(execution_id: str, node_id: str, content: str) -> dict:
    return {"type": "delta", "execution_id": execution_id, "node_id": node_id, "content": content}


class ExecutionEvents:
    def __init__(self, bus: EventBus):
        self.bus = bus

    def publish(self, execution_id: str, events: list[dict]) -> None:
        """Several events of one run in one bus message (one database write)."""
        if events:
            message = events[0] if len(events) == 1 else {"type": BATCH, "events": events}
            self._publish(execution_topic(execution_id), message)

    def finished(self, execution: Execution, pending: list[dict] | None = None) -> None:
        """The run's last events (`pending`, then the terminal one), and the notifications."""
        view = execution_view(execution)
        terminal = {"type": TERMINAL_EVENTS[execution.status], "execution": view}
        self.publish(execution.id, [*(pending or []), terminal])
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
