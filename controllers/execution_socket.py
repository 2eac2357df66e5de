"""WebSocket `/api/v1/ws/executions/{execution_id}?token=`: a run's progress, live.

Server frames: first `{"type": "snapshot", "execution": {...}}`, then `node_started`,
`node_completed`, `node_failed` (`{node_id, status, attempts, started_at, finished_at, output,
error}`), `delta` (`{node_id, content}`: an LLM node's reply as it streams) and, last, one of
`execution_completed`, `execution_failed`, `execution_cancelled` (`{execution}`), after which
the server closes the socket. A node output over 64 KiB is left out of events
(`output_truncated: true`); `GET /api/v1/executions/{id}` has it. The feed is subscribed
before the snapshot is read, so no event is missed (one may repeat what the snapshot already
shows). A run that already ended gets its snapshot and its final event at once. Closes with
4401 for a bad token and 4404 for a run the caller may not see; with 1012 when this server
restarts (reconnect). Once open, it closes with 4401 within a few seconds when the session ends
or the run stops being the caller's to see (removed from its workspace, workspace deleted).
"""
from __future__ import annotations

from controllers.deps import use_cases
from controllers.realtime import (
    CLOSE_NOT_FOUND,
    CLOSE_SERVICE_RESTART,
    authenticate,
    close_revoked,
    document_socket,
    send_json,
    sock,
    watch_session,
)
from controllers.schemas.workflows import ExecutionSchema
from entities.errors import NotFound
from use_cases.workflows.events import TERMINAL_EVENTS, execution_view, is_terminal_event, unpack

PATH = "/api/v1/ws/executions/<execution_id>"
CLOSE_NORMAL = 1000

execution_schema = ExecutionSchema()


@sock.route(PATH)
def execution_events(ws, execution_id):
    actor = authenticate(ws)
    if actor is None:
        return
    executions = use_cases().executions
    try:
        subscription, execution = executions.watch(actor, execution_id)
    except NotFound:
        ws.close(CLOSE_NOT_FOUND, "not found")
        return
    watch = watch_session(actor, execution.workspace_id,
                          allowed=lambda: executions.get(actor, execution_id))
    with subscription, watch:
        send_json(ws, {"type": "snapshot", "execution": execution_schema.dump(execution)})
        if execution.status.finished:
            send_json(ws, {"type": TERMINAL_EVENTS[execution.status],
                           "execution": execution_view(execution)})
            ws.close(CLOSE_NORMAL, "finished")
            return
        while ws.connected and not subscription.closed:
            if not watch.live():
                close_revoked(ws)
                return
            message = subscription.get(timeout=1.0)
            for event in unpack(message) if message is not None else ():
                if not watch.live():
                    close_revoked(ws)
                    return
                send_json(ws, event)
                if is_terminal_event(event):
                    ws.close(CLOSE_NORMAL, "finished")
                    return
        if subscription.closed and ws.connected:
            ws.close(CLOSE_SERVICE_RESTART, "server restarting, reconnect")


def document(api) -> None:
    document_socket(api, PATH, "executions", "WebSocket: follow an execution live", __doc__,
                    "4401 (bad token, session ended) or 4404 (execution not visible)")
