from __future__ import annotations

import threading
import time

import pytest

from adapters.jinja_sandbox import SandboxedTemplates
from adapters.json_query import JsonPathQuery
from entities.llm import Usage
from entities.workflow import Edge, Execution, ExecutionStatus, Graph, Node, NodeRun, NodeStatus
from tests.fakes.gateway import (
    FakeLLMGateway,
    FakeProviderCredentials,
    meter_without_budgets,
    usage_repository,
)
from tests.fakes.shared import FakeOutboundHttp
from tests.fakes.workflows import FakeFileTexts, NoWorkflowAgents
from tests.fakes.workflows import FakeRunObserver as Observer
from tests.fakes.workspaces import FakeAccess
from tests.support.sandbox import SANDBOX
from use_cases.gateway.llm_chat import LLMChat
from use_cases.gateway.usage_recorder import UsageRecorder
from use_cases.workflows.engine import (
    CANCEL,
    GO_ON,
    EngineLimits,
    WorkflowEngine,
    prepare_node_runs,
)
from use_cases.workflows.nodes.registry import NodeHandlers


@pytest.fixture
def http():
    return FakeOutboundHttp()


@pytest.fixture
def gateway():
    return FakeLLMGateway("Hello world", usage=Usage(3, 2, 0.0), models=[], streams_only=True)


@pytest.fixture
def usage():
    return usage_repository()


@pytest.fixture
def handlers(http, gateway, usage):
    recorder = UsageRecorder(usage, flush_interval=60)
    chat = LLMChat(gateway, FakeProviderCredentials(), FakeAccess(),
                   meter_without_budgets(gateway, recorder))
    yield NodeHandlers(SandboxedTemplates(SANDBOX), JsonPathQuery(SANDBOX), llm=chat, http=http,
                       files=FakeFileTexts({("ws1", "f1"): "the file's text"}),
                       agents=NoWorkflowAgents())
    recorder.close()


@pytest.fixture
def engine(handlers):
    return WorkflowEngine(handlers, handlers.renderer,
                          EngineLimits(node_timeout_s=5, max_run_s=10))


def execution(nodes, edges=(), inputs=None, runs=None) -> Execution:
    ex = Execution(id="e1", workflow_id="w1", workflow_version=1, workspace_id="ws1",
                   created_by="u1", graph=Graph(list(nodes), list(edges)), inputs=inputs or {},
                   node_runs=runs or [])
    ex.node_runs = prepare_node_runs(ex)
    return ex


def runs(ex) -> dict[str, NodeRun]:
    return {run.node_id: run for run in ex.node_runs}


START = Node("start", "input", config={"fields": [{"name": "name", "type": "string"}]})


# --- node types ---------------------------------------------------------------------------------


def test_inputs_flow_through_a_template_into_the_outputs(engine):
    ex = execution([START, Node("greet", "template", config={"template": "Hi {{ name }}"}),
                    Node("done", "output", config={"outputs": {"text": "{{ greet.output }}"}})],
                   [Edge("start", "greet"), Edge("greet", "done")], {"name": "Ada"})
    observer = Observer()
    result = engine.run(ex, observer)
    assert result.status == ExecutionStatus.SUCCEEDED
    assert result.outputs == {"text": "Hi Ada"}
    assert observer.events == [("node_started", "start"), ("node_completed", "start"),
                               ("node_started", "greet"), ("node_completed", "greet"),
                               ("node_started", "done"), ("node_completed", "done")]
    assert all(run.attempts == 1 and run.started_at and run.finished_at
               for run in ex.node_runs)


def test_an_output_node_without_outputs_returns_its_upstream_outputs_by_node_id(engine):
    ex = execution([START, Node("a", "template", config={"template": "A"}),
                    Node("b", "template", config={"template": "B"}),
                    Node("done", "output", config={})],
                   [Edge("start", "a"), Edge("start", "b"), Edge("a", "done"), Edge("b", "done")])
    assert engine.run(ex, Observer()).outputs == {"a": "A", "b": "B"}


def test_an_llm_node_streams_its_reply_as_deltas_and_is_recorded_as_workflow_usage(
        engine, gateway, usage):
    ex = execution([START, Node("ask", "llm", config={
        "model": "fake/model", "prompt": "Greet {{ name }}", "system_prompt": "Be brief",
        "temperature": 0.2})], [Edge("start", "ask")], {"name": "Ada"})
    observer = Observer()
    assert engine.run(ex, observer).status == ExecutionStatus.SUCCEEDED
    assert runs(ex)["ask"].output == "Hello world"
    assert observer.deltas == ["Hello", " world"]
    request = gateway.requests[0]
    assert request.messages == [{"role": "system", "content": "Be brief"},
                                {"role": "user", "content": "Greet Ada"}]
    assert request.temperature == 0.2
    engine.handlers.llm.meter.usage.flush()
    (record,) = usage.records
    assert (record.source, record.workspace_id, record.user_id) == ("workflow", "ws1", "u1")


def test_a_condition_runs_one_branch_and_records_the_other_as_skipped(engine):
    ex = execution([START,
                    Node("check", "condition", config={"value": "{{ name }}", "operator": "equals",
                                                       "compare_to": "Ada"}),
                    Node("yes", "template", config={"template": "known"}),
                    Node("no", "template", config={"template": "stranger"}),
                    Node("after_no", "template", config={"template": "{{ no.output }}"}),
                    Node("done", "output", config={})],
                   [Edge("start", "check"), Edge("check", "yes", True), Edge("check", "no", False),
                    Edge("no", "after_no"), Edge("yes", "done"), Edge("after_no", "done")],
                   {"name": "Ada"})
    result = engine.run(ex, Observer())
    state = runs(ex)
    assert state["check"].output is True
    assert state["yes"].status == NodeStatus.SUCCEEDED
    assert state["no"].status == NodeStatus.SKIPPED
    assert state["after_no"].status == NodeStatus.SKIPPED
    assert result.outputs == {"yes": "known"}


@pytest.mark.parametrize(("value", "operator", "compare_to", "expected"), [
    ("10", "gt", 9, True), (3, "lt", "2.5", False), ("abc", "contains", "b", True),
    (["x", 2], "contains", "2", True), ("", "empty", None, True), ("  ", "not_empty", None, False),
    ("true", "equals", True, True), ("a", "not_equals", "b", True),
])
def test_conditions_compare_values_sensibly(engine, value, operator, compare_to, expected):
    config = {"value": value, "operator": operator, "compare_to": compare_to}
    ex = execution([Node("c", "condition", config=config)])
    engine.run(ex, Observer())
    assert runs(ex)["c"].output is expected


def test_http_json_is_parsed_and_a_json_extract_node_picks_a_value_from_it(engine, http):
    http.bodies["https://api.example/items"] = b'{"items": [{"name": "a"}, {"name": "b"}]}'
    ex = execution([Node("get", "http_request", config={"method": "GET",
                                                        "url": "https://api.example/items"}),
                    Node("pick", "json_extract", config={"source": "{{ get.output.body }}",
                                                         "path": "$.items[1].name"})],
                   [Edge("get", "pick")])
    engine.run(ex, Observer())
    assert runs(ex)["get"].output["status"] == 200
    assert runs(ex)["pick"].output == "b"


def test_a_file_text_node_reads_a_file_of_the_workflows_workspace(engine):
    ex = execution([Node("read", "file_text", config={"file_id": "f1"})])
    engine.run(ex, Observer())
    assert runs(ex)["read"].output == "the file's text"


def test_a_file_of_another_workspace_fails_the_node_without_retrying(engine):
    ex = execution([Node("read", "file_text", config={"file_id": "f2",
                                                      "retry": {"max_attempts": 3}})])
    result = engine.run(ex, Observer())
    assert result.status == ExecutionStatus.FAILED
    assert runs(ex)["read"].attempts == 1
    assert "not found" in result.error.lower()


# --- concurrency, retries, timeouts, cancel, limits ---------------------------------------------


def test_independent_branches_run_at_the_same_time(engine, http):
    for url in ("https://a.example/", "https://b.example/"):
        http.delay[url] = 0.3
    ex = execution([START,
                    Node("a", "http_request", config={"method": "GET", "url": "https://a.example/"}),
                    Node("b", "http_request", config={"method": "GET", "url": "https://b.example/"}),
                    Node("done", "output", config={})],
                   [Edge("start", "a"), Edge("start", "b"), Edge("a", "done"), Edge("b", "done")])
    began = time.monotonic()
    assert engine.run(ex, Observer()).status == ExecutionStatus.SUCCEEDED
    elapsed = time.monotonic() - began
    (a_start, a_end), (b_start, b_end) = http.spans.values()
    assert a_start < b_end and b_start < a_end  # the two requests overlapped
    assert elapsed < 0.6  # one after the other would take 0.6 s


def test_a_failing_node_is_retried_with_backoff_until_it_succeeds(engine, http):
    url = "https://flaky.example/"
    http.failures[url] = 2
    ex = execution([Node("get", "http_request", config={
        "method": "GET", "url": url, "retry": {"max_attempts": 3, "backoff_s": 0.1}})])
    observer = Observer()
    assert engine.run(ex, observer).status == ExecutionStatus.SUCCEEDED
    assert runs(ex)["get"].attempts == 3
    times = [at for _, at in http.calls]
    assert times[1] - times[0] >= 0.1 and times[2] - times[1] >= 0.2  # doubling backoff
    assert observer.events.count(("node_started", "get")) == 1


def test_a_node_that_keeps_failing_fails_the_run_after_its_attempts(engine, http, gateway):
    gateway.fail = 5
    ex = execution([Node("ask", "llm", config={"model": "m", "prompt": "p",
                                               "retry": {"max_attempts": 2}}),
                    Node("later", "template", config={"template": "x"})], [Edge("ask", "later")])
    observer = Observer()
    result = engine.run(ex, observer)
    assert result.status == ExecutionStatus.FAILED
    assert result.error == "Node 'ask' failed: provider down"
    assert runs(ex)["ask"].attempts == 2
    assert runs(ex)["later"].status == NodeStatus.CANCELLED
    assert ("node_failed", "ask") in observer.events


def test_a_refused_url_is_not_retried(engine):
    ex = execution([Node("get", "http_request", config={
        "method": "GET", "url": "http://169.254.169.254/", "retry": {"max_attempts": 3}})])
    result = engine.run(ex, Observer())
    assert result.status == ExecutionStatus.FAILED
    assert runs(ex)["get"].attempts == 1


def test_a_node_that_runs_past_its_timeout_fails_and_can_be_retried(engine, http):
    http.delay["https://slow.example/"] = 1.0
    ex = execution([Node("get", "http_request", config={
        "method": "GET", "url": "https://slow.example/", "timeout_s": 0.2,
        "retry": {"max_attempts": 2}})])
    began = time.monotonic()
    result = engine.run(ex, Observer())
    assert time.monotonic() - began < 0.9
    assert result.status == ExecutionStatus.FAILED
    assert runs(ex)["get"].attempts == 2
    assert runs(ex)["get"].error == "timed out after 0.2 s"


def test_a_cancel_stops_the_run_and_cancels_what_did_not_finish(engine, http):
    http.delay["https://slow.example/"] = 5
    requested = threading.Event()
    threading.Timer(0.2, requested.set).start()
    ex = execution([START, Node("get", "http_request", config={"method": "GET",
                                                               "url": "https://slow.example/"}),
                    Node("done", "output", config={})], [Edge("start", "get"), Edge("get", "done")])
    began = time.monotonic()
    result = engine.run(ex, Observer(lambda _: CANCEL if requested.is_set() else GO_ON))
    assert time.monotonic() - began < 1
    assert result.status == ExecutionStatus.CANCELLED
    state = runs(ex)
    assert state["start"].status == NodeStatus.SUCCEEDED
    assert state["get"].status == NodeStatus.CANCELLED
    assert state["done"].status == NodeStatus.CANCELLED


def test_the_run_time_limit_fails_a_run_that_takes_too_long(http, handlers):
    http.delay["https://slow.example/"] = 2
    engine = WorkflowEngine(handlers, handlers.renderer, EngineLimits(max_run_s=0.3))
    ex = execution([Node("get", "http_request", config={"method": "GET",
                                                        "url": "https://slow.example/"})])
    result = engine.run(ex, Observer())
    assert result.status == ExecutionStatus.FAILED
    assert "longer than the limit of 0.3 s" in result.error


def test_the_step_limit_counts_retries(http, handlers):
    http.failures["https://flaky.example/"] = 10
    engine = WorkflowEngine(handlers, handlers.renderer, EngineLimits(max_steps=3))
    ex = execution([Node("get", "http_request", config={
        "method": "GET", "url": "https://flaky.example/", "retry": {"max_attempts": 10}})])
    result = engine.run(ex, Observer())
    assert result.status == ExecutionStatus.FAILED
    assert "limit of 3 node steps" in result.error
    assert len(http.calls) == 3


def test_an_output_over_the_size_limit_fails_its_node(http, handlers):
    engine = WorkflowEngine(handlers, handlers.renderer, EngineLimits(max_output_bytes=100))
    ex = execution([Node("big", "template", config={"template": "{{ 'x' * 500 }}"})])
    result = engine.run(ex, Observer())
    assert result.status == ExecutionStatus.FAILED
    assert "over the limit of 100 bytes" in runs(ex)["big"].error


def test_a_resumed_run_keeps_the_nodes_that_already_succeeded(engine, http):
    url = "https://once.example/"
    done = NodeRun("get", NodeStatus.SUCCEEDED, output={"status": 200, "body": "first run"},
                   attempts=1)
    ex = execution([Node("get", "http_request", config={"method": "GET", "url": url}),
                    Node("use", "template", config={"template": "{{ get.output.body }}"})],
                   [Edge("get", "use")], runs=[done, NodeRun("use", NodeStatus.RUNNING)])
    assert engine.run(ex, Observer()).status == ExecutionStatus.SUCCEEDED
    assert http.calls == []
    assert runs(ex)["use"].output == "first run"


def test_a_value_substituted_into_a_template_is_never_rendered_again(engine):
    ex = execution([START, Node("t", "template", config={"template": "Hi {{ name }}"})],
                   [Edge("start", "t")], {"name": "{{ 7 * 7 }}"})
    engine.run(ex, Observer())
    assert runs(ex)["t"].output == "Hi {{ 7 * 7 }}"


# --- untrusted work within limits (issue 15) ----------------------------------------------------

NESTED_LOOPS = ("{% for i in range(10000) %}{% for j in range(10000) %}{{ '' }}{% endfor %}"
                "{% endfor %}")


def test_a_template_node_that_times_out_fails_once_with_the_timeout_code(engine):
    ex = execution([START, Node("spin", "template", config={"template": NESTED_LOOPS,
                                                            "timeout_s": 0.5})],
                   [Edge("start", "spin")])
    started = time.monotonic()
    result = engine.run(ex, Observer())
    assert result.status == ExecutionStatus.FAILED
    spin = runs(ex)["spin"]
    assert (spin.status, spin.error_code, spin.attempts) == (NodeStatus.FAILED, "timeout", 1)
    assert time.monotonic() - started < 4  # the sandbox was stopped at the node's deadline


def test_a_limit_is_final_even_under_a_retry_policy(engine):
    """The same template stops at the same limit: retrying would only burn CPU again."""
    ex = execution([START, Node("big", "template", config={
        "template": "{{ '{:>999999999}'.format(1) }}", "retry": {"max_attempts": 3}})],
        [Edge("start", "big")])
    engine.run(ex, Observer())
    big = runs(ex)["big"]
    assert (big.status, big.error_code, big.attempts) == (NodeStatus.FAILED, "memory_limit", 1)


def test_node_outputs_that_would_outgrow_a_document_fail_the_run_once(handlers):
    """Issue 15 item 5: 20 nodes of 950,000 characters each used to fail the write, look like a
    dead worker and be run three times."""
    engine = WorkflowEngine(handlers, handlers.renderer,
                            EngineLimits(node_timeout_s=10, max_run_s=60, max_parallel=1))
    nodes = [START] + [Node(f"t{i}", "template", config={"template": "{{ 'x' * 950000 }}"})
                       for i in range(20)]
    edges = [Edge("start", "t0")] + [Edge(f"t{i}", f"t{i + 1}") for i in range(19)]
    ex = execution(nodes, edges)
    result = engine.run(ex, Observer())
    assert result.status == ExecutionStatus.FAILED and "8000000 bytes" in result.error
    failed = [run for run in ex.node_runs if run.status == NodeStatus.FAILED]
    assert [(run.node_id, run.error_code) for run in failed] == [("t8", "output_too_large")]
    assert all(run.attempts <= 1 for run in ex.node_runs)


def interrupted(config: dict) -> Execution:
    """A run whose worker died while `fetch` (its first attempt) was running."""
    fetch = Node("fetch", "template", config={"template": "fetched", **config})
    earlier = [NodeRun("start", NodeStatus.SUCCEEDED, attempts=1, output={}),
               NodeRun("fetch", NodeStatus.RUNNING, attempts=1)]
    return execution([START, fetch], [Edge("start", "fetch")], runs=earlier)


def test_a_node_interrupted_by_a_lost_worker_is_not_run_again_unasked(engine):
    ex = interrupted({})
    observer = Observer()
    result = engine.run(ex, observer)
    assert result.status == ExecutionStatus.FAILED
    fetch = runs(ex)["fetch"]
    assert (fetch.status, fetch.error_code, fetch.attempts) == (NodeStatus.FAILED,
                                                                "interrupted", 1)
    assert ("node_started", "fetch") not in observer.events


def test_a_node_interrupted_by_a_lost_worker_runs_again_when_its_retry_policy_allows(engine):
    ex = interrupted({"retry": {"max_attempts": 2}})
    assert engine.run(ex, Observer()).status == ExecutionStatus.SUCCEEDED
    assert (runs(ex)["fetch"].output, runs(ex)["fetch"].attempts) == ("fetched", 2)


def test_a_config_naming_one_large_output_many_times_fails_before_it_expands(engine, http):
    """`body: ["{{ big.output }}", ...]` shares one 900 kB string 2,000 times in Python, but its
    JSON (the request's body) would be 1.8 GB of the API process's memory."""
    ex = execution([
        Node("big", "template", config={"template": "{{ 'x' * 900000 }}"}),
        Node("send", "http_request", config={"method": "POST", "url": "https://api.example/",
                                             "body": ["{{ big.output }}"] * 2000}),
    ], [Edge("big", "send")])
    result = engine.run(ex, Observer())
    assert result.status == ExecutionStatus.FAILED
    assert runs(ex)["send"].error_code == "output_too_large"
    assert http.requests == []
