"""A hostile workflow against a real gunicorn worker: the API keeps answering while it runs, and
once the run reports its timeout nothing of it keeps computing (issue 15)."""
from __future__ import annotations

import statistics
import time
import uuid

import pymongo
import pytest
import requests

from tests.support.gunicorn import descendants, start_gunicorn
from tests.support.processes import cpu_seconds, stop
from tests.support.workflows import edge, input_node, node

pytestmark = pytest.mark.slow

NESTED_LOOPS = ("{% for i in range(10000) %}{% for j in range(10000) %}{{ '' }}{% endfor %}"
                "{% endfor %}")
HOSTILE_S = 4


@pytest.fixture
def server(tmp_path, mongo_uri, models_yaml):
    database = f"test_{uuid.uuid4().hex[:12]}"
    gunicorn = start_gunicorn(tmp_path, {
        "MONGODB_URI": mongo_uri, "MONGODB_DATABASE": database, "RATELIMIT_ENABLED": "false",
        "BCRYPT_ROUNDS": "4", "MODELS_CONFIG": str(models_yaml)}, workers=1)
    yield gunicorn
    stop(gunicorn.process)
    pymongo.MongoClient(mongo_uri).drop_database(database)


def hostile_workflow() -> dict:
    """Two sandboxed nodes that would each hold a core for hours: a backtracking JSONPath filter
    (RE2 answers it at once), then nested template loops (they meet their timeout)."""
    return {"name": "hostile", "nodes": [
        input_node(),
        node("spin", "template", template=NESTED_LOOPS, timeout_s=HOSTILE_S),
        node("regex", "json_extract", source=[{"s": "a" * 40 + "!"}],
             path='$[?(@.s =~ "(a+)+$")]'),
        node("done", "output")],
        "edges": [edge("start", "regex"), edge("regex", "spin"), edge("spin", "done")]}


def test_health_stays_fast_during_a_hostile_run_and_its_cpu_stops_at_the_timeout(server):
    account = requests.post(f"{server.base}/api/v1/auth/register", timeout=10, json={
        "email": f"h-{uuid.uuid4().hex[:10]}@example.com", "password": "correct-horse-1",
        "name": "Hostile"}).json()
    headers = {"Authorization": f"Bearer {account['access_token']}"}
    created = requests.post(f"{server.base}/api/v1/workflows", headers=headers, timeout=10,
                            json=hostile_workflow())
    assert created.status_code == 201, created.text
    run = requests.post(f"{server.base}/api/v1/workflows/{created.json()['id']}/execute",
                        headers=headers, json={"inputs": {}}, timeout=10)
    assert run.status_code == 202, run.text
    execution_url = f"{server.base}/api/v1/executions/{run.json()['id']}"

    latencies = []
    with requests.Session() as session:
        ends = time.monotonic() + HOSTILE_S - 1
        while time.monotonic() < ends:
            started = time.perf_counter()
            assert session.get(f"{server.base}/health", timeout=10).status_code == 200
            latencies.append(time.perf_counter() - started)
            time.sleep(0.05)
        state = requests.get(execution_url, headers=headers, timeout=10).json()
        assert state["status"] == \
            "running", f"the hostile run ended before the measurement did: {state}"
    p95_ms = statistics.quantiles(latencies, n=20)[-1] * 1000
    print(f"\n/health during a hostile run: {len(latencies)} requests, p95 {p95_ms:.1f} ms")
    assert p95_ms < 100

    deadline = time.monotonic() + HOSTILE_S + 10
    while (finished := requests.get(execution_url, headers=headers, timeout=10).json())[
            "status"] == "running":
        assert time.monotonic() < deadline, "the run outlived its node's timeout"
        time.sleep(0.1)
    runs = {run["node_id"]: run for run in finished["node_runs"]}
    assert finished["status"] == "failed"
    assert (runs["spin"]["error_code"], runs["spin"]["attempts"]) == ("timeout", 1)
    assert runs["regex"]["status"] == "succeeded" and runs["regex"]["output"] is None

    time.sleep(0.5)  # the killed worker's exit
    processes = descendants(server.process.pid) | {server.process.pid}
    before = cpu_seconds(processes)
    time.sleep(1.5)
    assert cpu_seconds(processes) - before < 0.3  # idle again: nothing computes on
