"""Agents with `mcp` and `file_search` tools, through the real app: saved through the API (headers
masked), run by `tools/test`, and used in the agent loop where the mock provider answers with a
tool call and then with the tool's result.

The MCP server is the official SDK's FastMCP (MCPServer) over Streamable HTTP, started by the
tests on loopback; loopback is allowed here the way other tests allow their local servers."""
from __future__ import annotations

import io
import json

import pytest

from entities.actor import Actor
from tests.support.agents import create_agent
from tests.support.mcp_server import start_mcp_server

TOKEN = "agent-token"
MINUTES = ("Board minutes, March.\n\nThe board approved the Lisbon office; rent is 4,000 EUR "
           "a month.\n\nOther business: none.\n")


@pytest.fixture
def settings_overrides():
    return {"outbound_allowlist": ("127.0.0.1",), "chat_flush_interval_s": 0.05}


@pytest.fixture(scope="module")
def mcp_server():
    started = start_mcp_server(token=TOKEN)
    yield started
    started.stop()


@pytest.fixture
def owner(api):
    return api.register()


def mcp_tool(url: str, **extra) -> dict:
    return {"type": "mcp", "name": "orders", "url": url,
            "headers": {"Authorization": f"Bearer {TOKEN}"}, **extra}


def upload(api, session, name: str, text: str) -> str:
    response = api.client.post("/api/v1/files/upload", headers=session.headers,
                               content_type="multipart/form-data",
                               data={"file": (io.BytesIO(text.encode()), name)})
    assert response.status_code == 201, response.get_json()
    return response.get_json()["id"]


def run_tool(api, session, agent_id: str, tool: str, arguments: dict) -> dict:
    response = api.request("POST", f"/api/v1/agents/{agent_id}/tools/test", session,
                           json={"tool": tool, "arguments": arguments})
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def answer(app, session, agent_id: str, question: str):
    """The agent's loop, as a talk or `agent/<id>` runs it, for `session`'s user."""
    runtime = app.extensions["synapscale"].agent_runtime
    actor = Actor(session.id)
    agent, toolbox = runtime.for_reply(actor, agent_id)
    request = runtime.request_for(agent, toolbox, [{"role": "user", "content": question}])
    return runtime.answer(actor, agent, toolbox, request), toolbox


def test_an_mcp_tool_is_saved_with_masked_headers_and_runs_as_the_agent_would(
        api, owner, mcp_server):
    agent = create_agent(api, owner, tools=[mcp_tool(mcp_server.url,
                                                     allowed_tools=["lookup_order", "fail"])])
    shown = agent["tools"][0]
    assert shown["headers"] == {"Authorization": "********"}
    assert TOKEN not in str(agent)

    ran = run_tool(api, owner, agent["id"], "orders__lookup_order", {"order_id": "A-42"})
    assert ran == {"tool": "orders__lookup_order", "error": None,
                   "content": "Order A-42: shipped to Lisbon on 3 March"}
    failed = run_tool(api, owner, agent["id"], "orders__fail", {})
    assert failed["error"] and "fail" in failed["error"]
    hidden = api.request("POST", f"/api/v1/agents/{agent['id']}/tools/test", owner,
                         json={"tool": "orders__add", "arguments": {"a": 1, "b": 2}})
    assert hidden.status_code == 422, hidden.get_json()  # not in allowed_tools: not offered


def test_an_mcp_url_to_a_refused_address_is_422(api, owner):
    body = {"name": "Helper", "model": "openai/mock-primary",
            "tools": [{"type": "mcp", "name": "meta", "url": "http://169.254.169.254/mcp"}]}
    response = api.request("POST", "/api/v1/agents", owner, json=body)
    assert response.status_code == 422, response.get_json()


def test_the_model_calls_an_mcp_tool_and_answers_with_its_result(
        app, api, owner, mock_provider, mcp_server):
    agent = create_agent(api, owner, tools=[mcp_tool(mcp_server.url,
                                                     allowed_tools=["lookup_order"])])
    mock_provider.behave(None, call_tools=True, tool_arguments={"order_id": "A-42"})
    done, toolbox = answer(app, owner, agent["id"], "Where is order A-42?")

    assert [spec["function"]["name"] for spec in toolbox.specs] == ["orders__lookup_order"]
    assert done.rounds == 1
    assert done.result.content == "The tool said: Order A-42: shipped to Lisbon on 3 March"
    call, result = done.messages
    assert call["tool_calls"][0]["function"]["name"] == "orders__lookup_order"
    assert result["role"] == "tool"
    assert result["content"] == "Order A-42: shipped to Lisbon on 3 March"


def test_the_model_searches_the_agents_files_and_answers_with_the_passage(
        app, api, owner, mock_provider):
    minutes = upload(api, owner, "minutes.txt", MINUTES)
    upload(api, owner, "other.txt", "Nothing about offices here.")
    agent = create_agent(api, owner, file_ids=[minutes],
                         tools=[{"type": "file_search", "name": "search_files"}])
    ran = run_tool(api, owner, agent["id"], "search_files", {"query": "Lisbon rent"})
    assert ran["error"] is None
    found = json.loads(ran["content"])
    assert found["searched_files"] == 1 and found["skipped_files"] == []
    assert [(p["file_id"], p["filename"], p["position"]) for p in found["passages"]] == \
        [(minutes, "minutes.txt", {"start": 0, "end": len(MINUTES)})]
    assert found["passages"][0]["text"] == MINUTES.strip()

    mock_provider.behave(None, call_tools=True, tool_arguments={"query": "Lisbon office rent"})
    done, _toolbox = answer(app, owner, agent["id"], "What is the rent of the Lisbon office?")
    assert done.rounds == 1
    tool_message = done.messages[1]
    assert tool_message["role"] == "tool"
    assert json.loads(tool_message["content"])["passages"][0]["filename"] == "minutes.txt"
    assert done.result.content == f"The tool said: {tool_message['content']}"
    assert "4,000 EUR" in done.result.content


def send(api, session, agent: dict, content: str, file_ids: list[str] | None = None) -> tuple:
    """A talk bound to `agent`, one message sent: (the final answer, the stored messages)."""
    talk = api.request("POST", "/api/v1/talks", session, json={"agent_id": agent["id"]})
    assert talk.status_code == 201, talk.get_json()
    talk_id = talk.get_json()["id"]
    response = api.request("POST", f"/api/v1/talks/{talk_id}/messages", session,
                           json={"content": content, "file_ids": file_ids or []})
    assert response.status_code in (200, 201), response.get_json()
    stored = api.request("GET", f"/api/v1/talks/{talk_id}/messages", session).get_json()
    return response.get_json()["assistant_message"], stored["items"]


def test_a_talk_with_an_mcp_tool_stores_the_call_and_result_and_answers_from_it(
        api, owner, mock_provider, mcp_server):
    agent = create_agent(api, owner, tools=[mcp_tool(mcp_server.url,
                                                     allowed_tools=["lookup_order"])])
    mock_provider.behave(None, call_tools=True, tool_arguments={"order_id": "B-7"})
    final, stored = send(api, owner, agent, "Where is order B-7?")
    assert final["status"] == "complete"
    assert final["content"] == "The tool said: Order B-7: shipped to Lisbon on 3 March"
    tool = next(m for m in stored if m["role"] == "tool")
    assert (tool["name"], tool["content"]) == ("orders__lookup_order",
                                               "Order B-7: shipped to Lisbon on 3 March")
    call = next(m for m in stored if m.get("tool_calls"))["tool_calls"][0]
    assert call["id"] == tool["tool_call_id"]
    assert json.loads(call["arguments"]) == {"order_id": "B-7"}


def test_file_search_in_a_talk_searches_the_files_attached_to_it(api, owner, mock_provider):
    attached = upload(api, owner, "minutes.txt", MINUTES)
    agent = create_agent(api, owner, tools=[{"type": "file_search", "name": "search_files"}])
    mock_provider.behave(None, call_tools=True, tool_arguments={"query": "Lisbon rent"})
    final, stored = send(api, owner, agent, "What is the Lisbon rent?", file_ids=[attached])
    tool = next(m for m in stored if m["role"] == "tool")
    found = json.loads(tool["content"])
    assert [(p["file_id"], p["filename"]) for p in found["passages"]] == \
        [(attached, "minutes.txt")]
    assert "4,000 EUR" in final["content"]
