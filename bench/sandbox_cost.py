"""What the process sandbox costs per node: the same workflow engine runs the same executions
with its templates and JSONPath queries evaluated in the sandbox's worker processes (as the
server does) and in the calling process (what it did before issue 15), side by side.

    python -m bench.workflows_load --isolation [--executions 200]

The workflow: input -> 5 `template` nodes -> 5 `json_extract` nodes -> output (each template
renders one variable; each query picks a field of a small object). Every node of these types
makes one sandbox round trip (arguments pickled, sent over a pipe, result sent back).
"""
from __future__ import annotations

import statistics
import time
from itertools import pairwise

from adapters.jinja_sandbox import SandboxedTemplates, TemplateEngine
from adapters.json_query import JsonPathQuery, find_in_worker
from adapters.sandbox import ProcessSandbox
from entities.deadline import Deadline
from entities.workflow import Edge, Execution, Graph, Node
from tests.fakes.gateway import llm_chat_without_models
from tests.fakes.shared import FakeOutboundHttp
from tests.fakes.workflows import FakeFileTexts, FakeRunObserver, NoWorkflowAgents
from use_cases.workflows.engine import WorkflowEngine, prepare_node_runs
from use_cases.workflows.nodes.registry import NodeHandlers
from use_cases.workflows.ports import JsonQuery, TemplateRenderer

TEMPLATES = 5
QUERIES = 5


class InProcessTemplates(TemplateRenderer):
    """The same bounded Jinja environment, rendered in the caller's process (no isolation)."""

    def __init__(self):
        self.engine = TemplateEngine(max_chars=1_000_000)

    def render(self, template: str, variables: dict, tenant: str,
               deadline: Deadline | None = None) -> str:
        return self.engine.render(template, variables)

    def variables_of(self, template: str) -> set[str]:
        return self.engine.variables_of(template)


class InProcessJsonPath(JsonQuery):
    def find(self, data: object, path: str, tenant: str, deadline: Deadline | None = None) -> list:
        return find_in_worker(data, path)

    def check(self, path: str) -> str | None:
        return None


def _graph() -> Graph:
    nodes = [Node("start", "input", config={"fields": [{"name": "name", "type": "string"}]})]
    nodes += [Node(f"t{i}", "template", config={"template": "Hello {{ name }} #" + str(i)})
              for i in range(TEMPLATES)]
    nodes += [Node(f"q{i}", "json_extract", config={"source": {"a": {"b": i}}, "path": "$.a.b"})
              for i in range(QUERIES)]
    nodes.append(Node("done", "output", config={}))
    chain = [node.id for node in nodes]
    return Graph(nodes, [Edge(a, b) for a, b in pairwise(chain)])


def _run_times(renderer: TemplateRenderer, paths: JsonQuery, executions: int) -> list[float]:
    handlers = NodeHandlers(renderer, paths, llm=llm_chat_without_models(),
                            http=FakeOutboundHttp(), files=FakeFileTexts(),
                            agents=NoWorkflowAgents())
    engine = WorkflowEngine(handlers, renderer)
    graph = _graph()
    times = []
    for index in range(executions):
        execution = Execution(id=str(index), workflow_id="w", workflow_version=1,
                              workspace_id="ws", created_by="u", graph=graph,
                              inputs={"name": "Ada"})
        execution.node_runs = prepare_node_runs(execution)
        started = time.perf_counter()
        result = engine.run(execution, FakeRunObserver())
        times.append(time.perf_counter() - started)
        assert result is not None and result.status.value == "succeeded", result
    return times


def isolation_rows(executions: int) -> list[tuple[str, float, float]]:
    """(mode, median ms per execution, median ms per sandboxed node) for each mode."""
    sandbox = ProcessSandbox(workers=2)
    try:
        modes = {"in-process (before)": (InProcessTemplates(), InProcessJsonPath()),
                 "sandboxed (now)": (SandboxedTemplates(sandbox), JsonPathQuery(sandbox))}
        rows = []
        for mode, (renderer, paths) in modes.items():
            _run_times(renderer, paths, 20)  # warm: workers started, templates compiled
            median = statistics.median(_run_times(renderer, paths, executions)) * 1000
            rows.append((mode, median, median / (TEMPLATES + QUERIES)))
        return rows
    finally:
        sandbox.close()


def print_isolation_table(executions: int) -> None:
    rows = isolation_rows(executions)
    print(f"\n{executions} executions of input -> {TEMPLATES} template -> {QUERIES} json_extract "
          "-> output, one at a time, in this process\n")
    header = f"{'mode':<20} | {'median ms / execution':>21} | {'ms / node':>9}"
    print(header)
    print("-" * len(header))
    for mode, per_execution, per_node in rows:
        print(f"{mode:<20} | {per_execution:>21.2f} | {per_node:>9.3f}")
    added = rows[1][2] - rows[0][2]
    print(f"\nisolation adds {added:.3f} ms per sandboxed node (median)")
