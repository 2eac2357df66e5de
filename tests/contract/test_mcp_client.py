"""The McpClient fake (tests/fakes/mcp.py) against the real adapter and a real MCP server (the
official SDK's FastMCP over Streamable HTTP): the same cases, the same answers."""
from __future__ import annotations

import pytest

from adapters.mcp_client import McpHttpClient
from adapters.outbound_http import GuardedHttpClient
from entities.deadline import Deadline
from tests.fakes.mcp import FakeMcpClient
from tests.support.mcp_server import start_mcp_server
from use_cases.agents.mcp_ports import RemoteToolResult


@pytest.fixture(scope="module")
def server():
    started = start_mcp_server()
    yield started
    started.stop()


def scripted() -> FakeMcpClient:
    """The fake, scripted like tests/support/mcp_server.py's tools used below."""
    fake = FakeMcpClient()
    fake.add("lookup_order", lambda a: RemoteToolResult(
        f"Order {a['order_id']}: shipped to Lisbon on 3 March"), "Looks up an order by its id.")
    fake.add("add", lambda a: RemoteToolResult(str(a["a"] + a["b"])), "Adds two integers.")
    fake.add("fail", lambda a: RemoteToolResult("Error executing tool fail", is_error=True),
             "Always fails.")
    return fake


@pytest.fixture(params=["fake", "real"])
def mcp(request):
    if request.param == "fake":
        return scripted(), "https://mcp.example.com/mcp"
    url = request.getfixturevalue("server").url
    return McpHttpClient(GuardedHttpClient(["127.0.0.1"])), url


def test_listed_tools_have_names_descriptions_and_object_schemas(mcp):
    client, url = mcp
    tools = {t.name: t for t in client.list_tools(url, {}, Deadline.after(10))}
    assert {"lookup_order", "add", "fail"} <= set(tools)
    assert tools["add"].description == "Adds two integers."
    assert tools["add"].input_schema["type"] == "object"


def test_a_call_returns_the_tools_text(mcp):
    client, url = mcp
    result = client.call_tool(url, {}, "lookup_order", {"order_id": "7"}, Deadline.after(10))
    assert result == RemoteToolResult("Order 7: shipped to Lisbon on 3 March", False)


def test_tool_errors_and_unknown_tools_are_results_marked_as_errors(mcp):
    client, url = mcp
    assert client.call_tool(url, {}, "fail", {}, Deadline.after(10)).is_error
    unknown = client.call_tool(url, {}, "nope", {}, Deadline.after(10))
    assert unknown.is_error and "nope" in unknown.text
