"""Dedicated workers (`flask --app app worker`) as real processes: they share only MongoDB with
the API, and a run whose worker is killed (-9) mid-way is finished by another worker."""
from __future__ import annotations

import os
import signal
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from tests.support.processes import python_command, start, stop
from tests.support.workflows import create_workflow, edge, execute, input_node, node, wait_for_status

pytestmark = pytest.mark.slow

LEASE_S = 2


@pytest.fixture
def settings_overrides():
    """The API runs nothing itself: every run waits for a worker process."""
    return {"workflow_runner_threads": 0, "outbound_allowlist": ("127.0.0.1/32",)}


class SlowHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    calls = 0

    def log_message(self, *args):
        pass

    def do_GET(self):
        type(self).calls += 1
        time.sleep(3)
        body = b'{"slow": true}'
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@pytest.fixture
def slow_url():
    server = ThreadingHTTPServer(("127.0.0.1", 0), SlowHandler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/work"
    server.shutdown()
    server.server_close()


@pytest.fixture
def worker(settings, tmp_path):
    started = []

    def launch(name: str):
        env = {"MONGODB_URI": settings.mongodb_uri, "MONGODB_DATABASE": settings.mongodb_database,
               "MODELS_CONFIG": settings.models_config, "LOG_LEVEL": "INFO",
               "OUTBOUND_ALLOWLIST": "127.0.0.1/32", "WORKFLOW_LEASE_S": str(LEASE_S),
               "WORKFLOW_POLL_S": "0.2", "WORKFLOW_HEARTBEAT_S": "0.3",
               "LITELLM_LOCAL_MODEL_COST_MAP": "True"}
        log = tmp_path / f"{name}.log"
        process = start(python_command("-m", "flask", "--app", "app", "worker", "--threads", "2"),
                        env, log)
        started.append(process)
        deadline = time.monotonic() + 60
        while "workflow worker" not in (log.read_text() if log.exists() else ""):
            assert process.poll() is None and time.monotonic() < deadline, log.read_text()
            time.sleep(0.1)
        return process

    yield launch
    for process in started:
        stop(process)


def slow_workflow(url: str) -> dict:
    return {"name": "Slow", "nodes": [
        input_node("topic"),
        node("fetch", "http_request", method="GET", url=url),
        node("done", "output", outputs={"body": "{{ fetch.output.body }}"}),
    ], "edges": [edge("start", "fetch"), edge("fetch", "done")]}


def test_a_worker_process_runs_what_the_api_queued_and_stops_cleanly(api, worker, slow_url):
    owner = api.register()
    workflow = create_workflow(api, owner, slow_workflow(slow_url))
    queued = execute(api, owner, workflow["id"], {"topic": "x"}, wait=False).get_json()
    process = worker("worker-a")
    done = wait_for_status(api, owner, queued["id"], ("succeeded", "failed"), timeout_s=30)
    assert done["status"] == "succeeded" and done["outputs"] == {"body": {"slow": True}}
    process.send_signal(signal.SIGTERM)
    assert process.wait(20) == 0


def test_a_run_whose_worker_was_killed_is_finished_by_another_worker(api, worker, slow_url):
    SlowHandler.calls = 0
    owner = api.register()
    workflow = create_workflow(api, owner, slow_workflow(slow_url))
    queued = execute(api, owner, workflow["id"], {"topic": "x"}, wait=False).get_json()
    first = worker("worker-a")
    running = wait_for_status(api, owner, queued["id"], ("running",), timeout_s=30)
    assert running["status"] == "running"
    while SlowHandler.calls == 0:
        time.sleep(0.05)
    os.killpg(first.pid, signal.SIGKILL)  # mid-request, no chance to hand the run back
    first.wait(10)

    worker("worker-b")
    done = wait_for_status(api, owner, queued["id"], ("succeeded", "failed"), timeout_s=40)
    assert done["status"] == "succeeded"
    assert SlowHandler.calls == 2  # the killed attempt, then the resumed run
    assert {r["node_id"]: r["status"] for r in done["node_runs"]} == {
        "start": "succeeded", "fetch": "succeeded", "done": "succeeded"}
