"""Leases, claims and recovery of workflow runs against a real MongoDB wire server."""
from __future__ import annotations

import threading
import time
import uuid
from datetime import timedelta

import pytest

from adapters.jinja_sandbox import SandboxedTemplates
from adapters.json_query import JsonPathQuery
from entities.clock import utcnow
from entities.workflow import Edge, Execution, ExecutionStatus, Graph, Node, NodeRun, NodeStatus
from repositories.executions import MongoExecutionRepository, node_run_to_doc
from repositories.mongo import connect
from tests.fakes.gateway import llm_chat_without_models
from tests.fakes.shared import FakeEventBus, FakeOutboundHttp
from tests.fakes.workflows import FakeFileTexts, NoWorkflowAgents
from tests.support.sandbox import SANDBOX
from use_cases.workflows.engine import EngineLimits, WorkflowEngine
from use_cases.workflows.events import ExecutionEvents
from use_cases.workflows.nodes.registry import NodeHandlers
from use_cases.workflows.runner import ExecutionRunner

SLOW = "https://slow.example/"
FAST = "https://fast.example/"


@pytest.fixture
def database(mongo_uri):
    client = connect(mongo_uri)
    name = f"test_runs_{uuid.uuid4().hex[:10]}"
    yield client[name]
    client.drop_database(name)
    client.close()


@pytest.fixture
def executions(database):
    repository = MongoExecutionRepository(database)
    repository.ensure_indexes()
    return repository


@pytest.fixture
def http():
    return FakeOutboundHttp()


@pytest.fixture
def bus():
    return FakeEventBus()


@pytest.fixture
def runners(executions, http, bus):
    started = []

    def make(limits: EngineLimits = EngineLimits(node_timeout_s=10), **options) -> ExecutionRunner:
        templates = SandboxedTemplates(SANDBOX)
        handlers = NodeHandlers(templates, JsonPathQuery(SANDBOX), llm=llm_chat_without_models(),
                                http=http, files=FakeFileTexts(),
                                agents=NoWorkflowAgents())
        engine = WorkflowEngine(handlers, templates, limits)
        settings = {"threads": 2, "lease_s": 2.0, "heartbeat_s": 0.1, "poll_s": 0.05,
                    "max_claims": 3, **options}
        runner = ExecutionRunner(executions, engine, ExecutionEvents(bus), bus, **settings)
        started.append(runner)
        return runner

    yield make
    for runner in started:
        runner.stop(timeout_s=5)


def two_requests() -> Graph:
    return Graph([Node("first", "http_request", config={"method": "GET", "url": FAST}),
                  Node("second", "http_request", config={"method": "GET", "url": SLOW})],
                 [Edge("first", "second")])


def queued(executions, graph: Graph) -> Execution:
    return executions.add(Execution(id="", workflow_id="w1", workflow_version=1,
                                    workspace_id="ws1", created_by="u1", graph=graph,
                                    created_at=utcnow()), None, 30)


def wait_until(check, timeout_s: float = 20.0):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError("condition not met in time")


def test_only_one_of_several_workers_claims_a_run(executions):
    execution = queued(executions, two_requests())
    barrier = threading.Barrier(4)
    wins = []

    def claim(worker):
        barrier.wait()
        claimed = executions.claim(worker, 30, 3)
        if claimed is not None:
            wins.append((worker, claimed.id))

    threads = [threading.Thread(target=claim, args=(f"w{i}",)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(wins) == 1 and wins[0][1] == execution.id
    assert executions.claim("late", 30, 3) is None


def test_a_killed_workers_run_is_resumed_by_another_worker_keeping_finished_nodes(
        executions, database, runners, http, bus):
    execution = queued(executions, two_requests())
    # a worker claimed it, ran `first`, saved it at a heartbeat, and died
    assert executions.claim("dead-worker", 30, 3) is not None
    first = NodeRun("first", NodeStatus.SUCCEEDED, utcnow(), utcnow(), {"status": 200}, None, 1)
    database.executions.update_one({"_id": executions.collection.find_one()["_id"]}, {"$set": {
        "node_runs": [node_run_to_doc(first), node_run_to_doc(NodeRun("second",
                                                                      NodeStatus.RUNNING))],
        "started_at": utcnow(), "lease_until": utcnow() - timedelta(seconds=1)}})

    runners().ensure_started()
    done = wait_until(lambda: (e := executions.get(execution.id)).status.finished and e)

    assert done.status == ExecutionStatus.SUCCEEDED
    assert done.claims == 2
    assert [url for url, _ in http.calls] == [SLOW]  # `first` was not run again
    assert [run.status for run in done.node_runs] == [NodeStatus.SUCCEEDED] * 2
    assert bus.types(f"execution:{execution.id}")[-1] == "execution_completed"


def test_a_run_abandoned_too_many_times_is_failed_with_a_reason(executions, database, runners,
                                                                bus):
    execution = queued(executions, two_requests())
    database.executions.update_one({}, {"$set": {
        "status": "running", "worker_id": "dead", "claims": 3,
        "lease_until": utcnow() - timedelta(seconds=1)}})
    runners(max_claims=3).ensure_started()
    failed = wait_until(lambda: (e := executions.get(execution.id)).status.finished and e)
    assert failed.status == ExecutionStatus.FAILED
    assert "stopped responding" in failed.error
    assert bus.types(f"execution:{execution.id}") == ["execution_failed"]
    assert bus.types("workspace:ws1") == ["workflow.execution.failed"]


def test_a_cancel_asked_for_in_the_database_reaches_the_worker_at_its_next_heartbeat(
        executions, runners, http):
    http.delay[SLOW] = 5
    execution = queued(executions, two_requests())
    runners().ensure_started()
    wait_until(lambda: executions.get(execution.id).status == ExecutionStatus.RUNNING)
    wait_until(lambda: any(url == SLOW for url, _ in http.calls))
    asked = time.monotonic()
    assert executions.request_cancel(execution.id) is not None
    cancelled = wait_until(lambda: (e := executions.get(execution.id)).status.finished and e)
    assert time.monotonic() - asked < 2
    assert cancelled.status == ExecutionStatus.CANCELLED
    assert [run.status for run in cancelled.node_runs] == [NodeStatus.SUCCEEDED,
                                                           NodeStatus.CANCELLED]


def test_a_stopping_worker_hands_its_run_back_for_another_to_finish(executions, runners, http):
    http.delay[SLOW] = 0.5
    execution = queued(executions, two_requests())
    first = runners()
    first.ensure_started()
    wait_until(lambda: any(url == SLOW for url, _ in http.calls))
    first.stop(timeout_s=5)
    handed_back = executions.get(execution.id)
    assert handed_back.status == ExecutionStatus.QUEUED and handed_back.worker_id is None

    runners().ensure_started()
    done = wait_until(lambda: (e := executions.get(execution.id)).status.finished and e)
    assert done.status == ExecutionStatus.SUCCEEDED
    assert [url for url, _ in http.calls].count(FAST) == 1


def test_a_worker_that_lost_its_lease_can_no_longer_change_the_run(executions, database):
    execution = queued(executions, two_requests())
    executions.claim("slow-worker", 30, 3)
    database.executions.update_one({}, {"$set": {"lease_until": utcnow() - timedelta(seconds=1)}})
    assert executions.claim("new-worker", 30, 3).worker_id == "new-worker"

    assert executions.heartbeat(execution.id, "slow-worker", 30) == "lost"
    execution.status = ExecutionStatus.SUCCEEDED
    assert executions.finish(execution, "slow-worker") is False
    assert executions.get(execution.id).status == ExecutionStatus.RUNNING


def test_a_run_whose_state_outgrows_a_document_fails_once_and_is_not_taken_for_a_dead_worker(
        executions, runners, bus):
    """Issue 15 item 5 where the engine's own cap is set above MongoDB's 16 MB: the write that
    fails is a deterministic failure: the run fails at its first claim, without its outputs."""
    nodes = [Node(f"t{i}", "template", config={"template": "{{ 'x' * 950000 }}"})
             for i in range(20)]
    graph = Graph(nodes, [Edge(f"t{i}", f"t{i + 1}") for i in range(19)])
    execution = queued(executions, graph)
    # heartbeats (which save the node runs) rare: the nodes finish before the first one
    runners(EngineLimits(node_timeout_s=10, max_state_bytes=100_000_000),
            heartbeat_s=30, lease_s=60).ensure_started()
    done = wait_until(lambda: (e := executions.get(execution.id)).status.finished and e, 60)
    assert done.status == ExecutionStatus.FAILED and "16 MB" in done.error
    assert done.claims == 1
    assert all(run.attempts == 1 and run.output is None for run in done.node_runs)
    assert bus.types(f"execution:{execution.id}")[-1] == "execution_failed"
