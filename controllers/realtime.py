"""WebSocket plumbing (flask-sock): token check, JSON frames, and the user's event feed.

A socket is authenticated when it opens and then holds a Watch of its login session
(use_cases/identity/revocation.py): when the session ends or the caller's rights change, on
whichever worker, the socket closes with 4401 within a few seconds.
"""
from __future__ import annotations

import json

from flask import Flask, g, request
from flask_sock import Sock
from werkzeug.routing import Map, Rule

from controllers.deps import use_cases
from controllers.security import actor_from_token
from entities.actor import Actor
from entities.errors import Forbidden
from use_cases.identity.revocation import Allowed, Watch
from use_cases.shared.global_feed import TOPIC as GLOBAL_TOPIC
from use_cases.shared.stale_caches import TOPIC as STALE_TOPIC

CLOSE_UNAUTHORIZED = 4401
CLOSE_FORBIDDEN = 4403
CLOSE_NOT_FOUND = 4404
CLOSE_SERVICE_RESTART = 1012
MAX_FRAME_BYTES = 64 * 1024
PING_INTERVAL_S = 25

sock = Sock()


def init_realtime(app: Flask) -> None:
    app.config["SOCK_SERVER_OPTIONS"] = {"ping_interval": PING_INTERVAL_S,
                                         "max_message_size": MAX_FRAME_BYTES}
    sock.init_app(app)


def send_json(ws, payload: dict) -> None:
    ws.send(json.dumps(payload, default=str))


def authenticate(ws) -> Actor | None:
    """The caller of `?token=`, or None after closing the socket with 4401."""
    actor = actor_from_token(request.args.get("token", ""), use_cases().principals)
    if actor is None:
        ws.close(CLOSE_UNAUTHORIZED, "unauthorized")
        return None
    g.user_id = actor.user_id
    return actor


def watch_session(actor: Actor, workspace_id: str | None = None,
                  allowed: Allowed | None = None) -> Watch:
    """The socket's watch of its caller's session (and of `allowed`, its own rule)."""
    return use_cases().revocations.watch(actor, workspace_id, allowed)


def close_revoked(ws) -> None:
    if ws.connected:
        ws.close(CLOSE_UNAUTHORIZED, "session ended")


def forward_events(ws, topics: list[str], watch: Watch) -> None:
    """Send every event of `topics` to the socket until it closes or the watch ends it.

    The subscription takes the announcements of ended sessions and changed rights too, so an
    event published after a logout is never sent: the announcement comes before it."""
    with use_cases().events.subscribe([*topics, STALE_TOPIC]) as subscription:
        while ws.connected and not subscription.closed:
            if not watch.live():
                close_revoked(ws)
                return
            event = subscription.get(timeout=1.0)
            if event is None:
                continue
            if event.get("topic") == STALE_TOPIC:
                watch.hear_event(event)
                continue
            if not watch.live():
                close_revoked(ws)
                return
            send_json(ws, event)
        if subscription.closed and ws.connected:  # this worker is draining: reconnect elsewhere
            ws.close(CLOSE_SERVICE_RESTART, "server restarting, reconnect")


USER_FEED_PATH = "/api/v1/ws/user"
GLOBAL_FEED_PATH = "/api/v1/ws/global"


def document_socket(api, path: str, tag: str, summary: str, description: str,
                    closes: str) -> None:
    """WebSocket routes are not Flask-Smorest views: describe one in the spec by hand."""
    rule = Rule(path, defaults={})
    Map([rule])  # binds the rule, as Flask would, so the spec plugin can read its parameters
    api.spec.path(rule=rule, operations={"get": {
        "tags": [tag],
        "summary": summary,
        "description": description,
        "parameters": [{"name": "token", "in": "query", "required": True,
                        "schema": {"type": "string"}, "description": "An access token"}],
        "responses": {"101": {"description": f"Switching protocols; closes {closes}"}},
    }})


def document(api) -> None:
    document_socket(
        api, USER_FEED_PATH, "realtime",
        "WebSocket: the user's events, from whichever worker produced them",
        "Talk and message changes, execution status and notifications as JSON text frames. "
        "Closes with 4401 for a bad token and, within a few seconds, when the session ends "
        "(logout, logout-all, password change or reset, deactivation, role change); 1012 when "
        "the worker restarts (reconnect).",
        "4401 (bad token, session ended)")
    document_socket(
        api, GLOBAL_FEED_PATH, "realtime",
        "WebSocket: service-wide events, for global admins",
        "JSON text frames with `type`: `user.registered` {user_id, email, name}, "
        "`workspace.created` {workspace_id, name, owner_id}, `provider.failover` {model, "
        "answered_by, provider, workspace_id, source} (at most once a minute per model pair and "
        "worker), `budget.threshold_reached` {workspace_id, scope, id, threshold, budget_usd, "
        "spent_usd, month}. Closes with 4401 for a bad token or when the session ends, 4403 for "
        "a caller who is not a global admin (a demoted admin's sessions end: 4401), 1012 when the "
        "worker restarts (reconnect).",
        "4401 (bad token, session ended), 4403 (not a global admin)")


@sock.route(USER_FEED_PATH)
def user_events(ws):
    actor = authenticate(ws)
    if actor:
        with watch_session(actor) as watch:
            forward_events(ws, [f"user:{actor.user_id}"], watch)


@sock.route(GLOBAL_FEED_PATH)
def global_events(ws):
    """Service-wide events (use_cases/shared/global_feed.py) for global admins; the admin role is
    read from the database when the socket opens and rechecked with its session."""
    actor = authenticate(ws)
    if actor is None:
        return
    admin = use_cases().admin
    try:
        admin.require_admin(actor)
    except Forbidden:
        ws.close(CLOSE_FORBIDDEN, "administrators only")
        return
    with watch_session(actor, allowed=lambda: admin.require_admin(actor)) as watch:
        forward_events(ws, [GLOBAL_TOPIC], watch)
