"""The workflow node type `agent`: an agent of the workspace answers inside a run, its tools
run as the run's creator; another workspace's agent fails the node."""
from __future__ import annotations

import pytest

from tests.support.agents import ToolServer, create_agent, http_tool, workflow_tool
from tests.support.workflows import (
    create_workflow,
    edge,
    execute,
    greeting_workflow,
    input_node,
    node,
)


@pytest.fixture
def settings_overrides():
    return {"outbound_allowlist": ("127.0.0.1",)}


@pytest.fixture
def owner(api):
    return api.register()


def agent_workflow(agent_id: str) -> dict:
    return {"name": "Ask the agent",
            "nodes": [input_node("question"),
                      node("ask", "agent", agent_id=agent_id, prompt="{{ question }}"),
                      node("done", "output", outputs={"answer": "{{ ask.output }}"})],
            "edges": [edge("start", "ask"), edge("ask", "done")]}


def test_an_agent_node_answers_with_its_tools_result(api, owner, mock_provider):
    server = ToolServer({"stock": 4})
    try:
        agent = create_agent(api, owner, tools=[http_tool(server.url)])
        workflow = create_workflow(api, owner, agent_workflow(agent["id"]))
        mock_provider.behave(None, call_tools=True)
        run = execute(api, owner, workflow["id"], {"question": "How many left?"}).get_json()
    finally:
        server.close()
    assert run["status"] == "succeeded", run
    assert '"stock": 4' in run["outputs"]["answer"]
    assert server.requests[0][1].startswith("/weather?q=How")


def test_an_agent_node_cannot_use_another_workspaces_agent(api, owner, mock_provider):
    stranger = api.register()
    agent = create_agent(api, stranger)
    workflow = create_workflow(api, owner, agent_workflow(agent["id"]))
    run = execute(api, owner, workflow["id"], {"question": "hi"}).get_json()
    assert run["status"] == "failed"
    assert mock_provider.requests == []


def test_an_agent_node_runs_at_most_sixteen_tool_calls_of_one_answer(api, owner, mock_provider):
    server = ToolServer({"stock": 4})
    try:
        agent = create_agent(api, owner, tools=[http_tool(server.url)])
        workflow = create_workflow(api, owner, agent_workflow(agent["id"]))
        mock_provider.behave(None, call_tools=True, tool_call_count=40)
        run = execute(api, owner, workflow["id"], {"question": "How many left?"}).get_json()
    finally:
        server.close()
    assert run["status"] == "succeeded", run
    assert len(server.requests) == 16
    tool_results = [m for m in mock_provider.requests[-1]["messages"] if m["role"] == "tool"]
    assert len(tool_results) == 40 and tool_results[-1]["content"].startswith("Error: not run")


def test_an_agent_node_is_not_offered_workflow_tools(api, owner, mock_provider):
    """An agent calling the workflow it answers in would nest runs without end."""
    agent = create_agent(api, owner)
    workflow = create_workflow(api, owner, agent_workflow(agent["id"]))
    greeting = create_workflow(api, owner, greeting_workflow())
    response = api.request("PATCH", f"/api/v1/agents/{agent['id']}", owner, json={"tools": [
        workflow_tool(workflow["id"], "again"), workflow_tool(greeting["id"])]})
    assert response.status_code == 200, response.get_json()
    mock_provider.behave(None, call_tools=True)
    run = execute(api, owner, workflow["id"], {"question": "Loop?"}).get_json()
    assert run["status"] == "succeeded", run
    assert "tools" not in mock_provider.requests[-1] and len(mock_provider.requests) == 1
    for flow in (workflow, greeting):
        runs = api.request("GET", f"/api/v1/workflows/{flow['id']}/executions", owner).get_json()
        assert runs["total"] == (1 if flow is workflow else 0)
