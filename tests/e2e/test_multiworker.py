"""Two gunicorn workers: a WebSocket on one worker receives events produced on the other."""
import json
import os
import signal
import time
import uuid

import pymongo
import pytest
import requests
import websocket

from tests.support.gunicorn import new_request_id, start_gunicorn
from tests.support.processes import stop

pytestmark = pytest.mark.slow


@pytest.fixture
def server(tmp_path, mongo_uri, models_yaml):
    database = f"test_{uuid.uuid4().hex[:12]}"
    gunicorn = start_gunicorn(tmp_path, {
        "MONGODB_URI": mongo_uri, "MONGODB_DATABASE": database, "RATELIMIT_ENABLED": "false",
        "BCRYPT_ROUNDS": "4", "MODELS_CONFIG": str(models_yaml)})
    yield gunicorn
    stop(gunicorn.process)
    pymongo.MongoClient(mongo_uri).drop_database(database)


def register(base: str) -> dict:
    response = requests.post(f"{base}/api/v1/auth/register", timeout=10, json={
        "email": f"w-{uuid.uuid4().hex[:10]}@example.com", "password": "correct-horse-1",
        "name": "Worker Test"})
    assert response.status_code == 201, response.text
    return response.json()


def served_by(server, request_id: str) -> int:
    deadline = time.monotonic() + 5
    while (pid := server.served_by(request_id)) is None:
        assert time.monotonic() < deadline, "request missing from gunicorn's access log"
        time.sleep(0.05)
    return pid


def add_to_new_workspace(server, owner: dict, newcomer: dict) -> tuple[str, int]:
    """A fresh workspace of `owner` gets `newcomer` as member: member.added on user:{newcomer}.
    Returns the workspace id and the pid of the worker that served the request."""
    headers = {"Authorization": f"Bearer {owner['access_token']}"}
    created = requests.post(f"{server.base}/api/v1/workspaces", headers=headers, timeout=10,
                            json={"name": "shared"})
    assert created.status_code == 201, created.text
    workspace_id = created.json()["id"]
    request_id = new_request_id()
    added = requests.post(f"{server.base}/api/v1/workspaces/{workspace_id}/members", timeout=10,
                          headers={**headers, "X-Request-ID": request_id},
                          json={"email": newcomer["user"]["email"], "role": "member"})
    assert added.status_code == 201, added.text
    return workspace_id, served_by(server, request_id)


def receive_event(ws, workspace_id: str, timeout_s: float = 10.0) -> dict:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        ws.settimeout(max(0.1, deadline - time.monotonic()))
        event = json.loads(ws.recv())
        if event.get("workspace_id") == workspace_id:
            return event
    raise AssertionError(f"no event for workspace {workspace_id}")


def test_a_websocket_on_one_worker_receives_events_produced_on_either_worker(server):
    assert len(server.worker_pids()) == 2
    owner, newcomer = register(server.base), register(server.base)
    ws = websocket.create_connection(
        f"ws://127.0.0.1:{server.port}/api/v1/ws/user?token={newcomer['access_token']}", timeout=10)
    try:
        ws_worker = server.holder_of(ws.sock.getsockname()[1])
        assert ws_worker in server.worker_pids()

        for producer in server.worker_pids():  # each worker in turn, the socket's own included
            with server.accepting_only(producer):
                workspace_id, served = add_to_new_workspace(server, owner, newcomer)
            assert served == producer
            event = receive_event(ws, workspace_id)
            assert event["type"] == "member.added" and event["user_id"] == newcomer["user"]["id"]
    finally:
        ws.close()


def test_a_stopping_worker_ends_its_event_feeds_at_once_so_clients_reconnect_elsewhere(server):
    owner, newcomer = register(server.base), register(server.base)
    url = f"ws://127.0.0.1:{server.port}/api/v1/ws/user?token={newcomer['access_token']}"
    ws = websocket.create_connection(url, timeout=10)
    worker = server.holder_of(ws.sock.getsockname()[1])
    stopped_at = time.monotonic()
    os.kill(worker, signal.SIGTERM)  # what a restart, a scale-down or max_requests does to it
    opcode, payload = ws.recv_data(control_frame=True)
    assert opcode == websocket.ABNF.OPCODE_CLOSE
    assert int.from_bytes(payload[:2], "big") == 1012  # service restart: reconnect
    assert time.monotonic() - stopped_at < 4.5  # before the 5 s graceful timeout ends the worker
    ws.close()

    again = websocket.create_connection(url, timeout=10)
    try:
        workspace_id, _ = add_to_new_workspace(server, owner, newcomer)
        assert receive_event(again, workspace_id)["type"] == "member.added"
    finally:
        again.close()
