"""Workflow graphs and HTTP helpers shared by the workflow tests."""
from __future__ import annotations

import time

from tests.support.fixtures import MOCK_DEFAULT_MODEL


def node(node_id: str, type_: str, **config) -> dict:
    return {"id": node_id, "type": type_, "name": node_id, "config": config}


def edge(source: str, target: str, condition: bool | None = None) -> dict:
    body = {"source": source, "target": target}
    if condition is not None:
        body["condition"] = condition
    return body


def input_node(*names: str, node_id: str = "start") -> dict:
    return node(node_id, "input", fields=[{"name": n, "type": "string", "required": True}
                                          for n in names])


def greeting_workflow() -> dict:
    """input(name) -> template -> output."""
    return {
        "name": "Greeting",
        "nodes": [input_node("name"),
                  node("greet", "template", template="Hello {{ name }}!"),
                  node("done", "output", outputs={"greeting": "{{ greet.output }}"})],
        "edges": [edge("start", "greet"), edge("greet", "done")],
    }


def llm_workflow(model: str = MOCK_DEFAULT_MODEL) -> dict:
    """input(question) -> llm -> output."""
    return {
        "name": "Ask",
        "nodes": [input_node("question"),
                  node("ask", "llm", model=model, prompt="{{ question }}"),
                  node("done", "output", outputs={"answer": "{{ ask.output }}"})],
        "edges": [edge("start", "ask"), edge("ask", "done")],
    }


def create_workflow(api, session, body: dict, workspace_id: str | None = None) -> dict:
    path = "/api/v1/workflows" + (f"?workspace_id={workspace_id}" if workspace_id else "")
    response = api.request("POST", path, session, json=body)
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def execute(api, session, workflow_id: str, inputs: dict, wait: bool = True):
    return api.request("POST", f"/api/v1/workflows/{workflow_id}/execute", session,
                       json={"inputs": inputs, "wait": wait})


def wait_for_status(api, session, execution_id: str, statuses: tuple[str, ...],
                    timeout_s: float = 15.0) -> dict:
    deadline = time.monotonic() + timeout_s
    while True:
        body = api.request("GET", f"/api/v1/executions/{execution_id}", session).get_json()
        if body["status"] in statuses or time.monotonic() > deadline:
            return body
        time.sleep(0.05)
