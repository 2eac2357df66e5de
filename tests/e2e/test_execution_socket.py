"""The executions WebSocket against a real server thread."""
from __future__ import annotations

import json

import pytest
import websocket

from tests.support.streams import served
from tests.support.workflows import create_workflow, execute, greeting_workflow, llm_workflow


@pytest.fixture
def settings_overrides():
    """No runner threads in the API: a run stays queued until a test starts a runner."""
    return {"workflow_runner_threads": 0}


@pytest.fixture
def ws_base(app):
    with served(app) as url:
        yield url.replace("http://", "ws://")


@pytest.fixture
def owner(api):
    return api.register()


@pytest.fixture
def runner(app):
    return app.extensions["synapscale"].workflow_runner


def connect(ws_base, execution_id, token):
    return websocket.create_connection(
        f"{ws_base}/api/v1/ws/executions/{execution_id}?token={token}", timeout=90)


def close_code(ws) -> int:
    opcode, data = ws.recv_data(control_frame=True)
    assert opcode == websocket.ABNF.OPCODE_CLOSE
    return int.from_bytes(data[:2], "big")


def frames_until_closed(ws) -> list[dict]:
    frames = []
    while True:
        opcode, data = ws.recv_data(control_frame=True)
        if opcode == websocket.ABNF.OPCODE_CLOSE:
            return frames
        frames.append(json.loads(data))


def test_a_watcher_gets_a_snapshot_then_every_event_of_the_run_in_order(
        api, owner, ws_base, runner, mock_provider):
    mock_provider.behave(None, reply="one two three four five six", token_delay=0.15)
    workflow = create_workflow(api, owner, llm_workflow())
    queued = execute(api, owner, workflow["id"], {"question": "count"}, wait=False)
    assert queued.status_code == 202
    execution_id = queued.get_json()["id"]

    ws = connect(ws_base, execution_id, owner.access_token)
    try:
        snapshot = json.loads(ws.recv())
        runner.start(1)
        frames = frames_until_closed(ws)
    finally:
        ws.close()

    assert snapshot["type"] == "snapshot"
    assert snapshot["execution"]["status"] == "queued"
    node_events = [(f["type"], f["node_id"]) for f in frames if f["type"].startswith("node_")]
    assert node_events == [
        ("node_started", "start"), ("node_completed", "start"),
        ("node_started", "ask"), ("node_completed", "ask"),
        ("node_started", "done"), ("node_completed", "done")]
    last = frames[-1]
    assert last["type"] == "execution_completed"
    assert last["execution"]["outputs"] == {"answer": "one two three four five six"}
    positions = {(f["type"], f.get("node_id")): i for i, f in enumerate(frames)}
    deltas = [(i, f) for i, f in enumerate(frames) if f["type"] == "delta"]
    assert len(deltas) >= 2  # streamed in several pieces, while the node ran
    assert all(positions[("node_started", "ask")] < i < positions[("node_completed", "ask")]
               and f["node_id"] == "ask" for i, f in deltas)
    assert "".join(f["content"] for _, f in deltas) == "one two three four five six"


def test_a_finished_run_gets_its_snapshot_and_final_event_at_once(api, owner, ws_base, runner):
    runner.start(1)
    workflow = create_workflow(api, owner, greeting_workflow())
    done = execute(api, owner, workflow["id"], {"name": "Ada"}).get_json()
    assert done["status"] == "succeeded"
    ws = connect(ws_base, done["id"], owner.access_token)
    try:
        frames = frames_until_closed(ws)
    finally:
        ws.close()
    assert [f["type"] for f in frames] == ["snapshot", "execution_completed"]
    assert frames[0]["execution"]["outputs"] == {"greeting": "Hello Ada!"}


def test_another_tenant_is_closed_with_4404_and_a_bad_token_with_4401(api, owner, ws_base):
    workflow = create_workflow(api, owner, greeting_workflow())
    execution_id = execute(api, owner, workflow["id"], {"name": "x"}, wait=False).get_json()["id"]
    stranger = api.register()
    ws = connect(ws_base, execution_id, stranger.access_token)
    assert close_code(ws) == 4404
    ws = connect(ws_base, execution_id, "not-a-token")
    assert close_code(ws) == 4401
    ws = connect(ws_base, "0" * 24, owner.access_token)
    assert close_code(ws) == 4404
