"""`/api/v1/ws/global`: service-wide events for global admins, and nobody else.

A global admin's socket hears new accounts and new workspaces from whichever request made them;
a plain user's socket closes with 4403 and a bad token's with 4401, as other sockets refuse; a
demoted admin's socket closes within a few seconds (the role change ends their sessions)."""
from __future__ import annotations

import json

import pytest
import websocket

from tests.support.identity import make_admin, shared_app
from tests.support.streams import served

app = shared_app(workflow_runner_threads=0)

CLOSE_WITHIN_S = 5.0
PATH = "/api/v1/ws/global"


@pytest.fixture(scope="module")
def ws_base(app):
    with served(app) as url:
        yield url.replace("http://", "ws://")


@pytest.fixture(scope="module")
def db(app):
    return app.extensions["synapscale"].db


def connect(ws_base: str, token: str):
    return websocket.create_connection(f"{ws_base}{PATH}?token={token}", timeout=15)


def close_code(ws, timeout_s: float = CLOSE_WITHIN_S) -> int:
    ws.settimeout(timeout_s)
    while True:
        opcode, data = ws.recv_data(control_frame=True)
        if opcode == websocket.ABNF.OPCODE_CLOSE:
            return int.from_bytes(data[:2], "big")


def next_event(ws, event_type: str) -> dict:
    """The next event of `event_type` (others published meanwhile by other tests are skipped)."""
    ws.settimeout(CLOSE_WITHIN_S)
    while True:
        event = json.loads(ws.recv())
        if event["type"] == event_type:
            return event


def test_a_global_admin_hears_new_accounts_and_new_workspaces(api, db, ws_base):
    admin = make_admin(api, db)
    feed = connect(ws_base, admin.access_token)
    try:
        newcomer = api.register()
        registered = next_event(feed, "user.registered")
        assert registered["topic"] == "global"
        assert registered["user_id"] == newcomer.id
        assert registered["email"] == newcomer.user["email"]
        assert "password" not in json.dumps(registered)

        created = api.request("post", "/api/v1/workspaces", newcomer, json={"name": "Lab"})
        assert created.status_code == 201
        event = next_event(feed, "workspace.created")
        assert event == {"topic": "global", "type": "workspace.created",
                         "workspace_id": created.get_json()["id"], "name": "Lab",
                         "owner_id": newcomer.id}
    finally:
        feed.close()


def test_a_user_who_is_not_a_global_admin_is_refused_with_4403(api, ws_base):
    plain = api.register()
    feed = connect(ws_base, plain.access_token)
    try:
        assert close_code(feed) == 4403
    finally:
        feed.close()


def test_a_bad_token_is_refused_with_4401(ws_base):
    feed = connect(ws_base, "not-a-token")
    try:
        assert close_code(feed) == 4401
    finally:
        feed.close()


def test_a_demoted_admins_feed_closes(api, db, ws_base):
    chief, deputy = make_admin(api, db), make_admin(api, db)
    feed = connect(ws_base, deputy.access_token)
    try:
        api.register()
        next_event(feed, "user.registered")  # the socket is open and listening
        demoted = api.request("patch", f"/api/v1/admin/users/{deputy.id}", chief,
                              json={"role": "user"})
        assert demoted.status_code == 200
        assert close_code(feed) == 4401
    finally:
        feed.close()
