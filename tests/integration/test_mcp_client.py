"""The MCP client adapter against a real MCP server (the official SDK's FastMCP, Streamable HTTP,
started by the tests in its own process): listing, calling, tool errors, refusals, the deadline,
the stop, the size cap, the headers, and nothing left behind."""
from __future__ import annotations

import threading

import pytest

from adapters.mcp_client import McpHttpClient
from adapters.outbound_http import GuardedHttpClient
from entities.deadline import Deadline
from entities.outbound import OutboundFailed, OutboundRefused
from tests.support.mcp_server import start_mcp_server

TOKEN = "s3cr3t-token"


@pytest.fixture(scope="module")
def server():
    started = start_mcp_server()
    yield started
    started.stop()


@pytest.fixture(scope="module")
def guarded_server():
    started = start_mcp_server(token=TOKEN)
    yield started
    started.stop()


@pytest.fixture
def client():
    """Loopback allowed, as the tests' settings allow the mock provider."""
    return McpHttpClient(GuardedHttpClient(["127.0.0.1"]), max_response_bytes=64 * 1024)


def soon(seconds: float = 10.0) -> Deadline:
    return Deadline.after(seconds)


def test_the_servers_tools_are_listed_with_their_descriptions_and_schemas(client, server):
    tools = {tool.name: tool for tool in client.list_tools(server.url, {}, soon())}
    assert {"lookup_order", "add", "fail", "slow", "big", "whoami"} <= set(tools)
    add = tools["add"]
    assert add.description == "Adds two integers."
    assert add.input_schema["type"] == "object"
    assert set(add.input_schema["properties"]) == {"a", "b"}
    assert sorted(add.input_schema["required"]) == ["a", "b"]


def test_a_tool_is_called_with_arguments_and_its_text_comes_back(client, server):
    result = client.call_tool(server.url, {}, "lookup_order", {"order_id": "A-42"}, soon())
    assert (result.text, result.is_error) == ("Order A-42: shipped to Lisbon on 3 March", False)
    assert client.call_tool(server.url, {}, "add", {"a": 2, "b": 40}, soon()).text == "42"


def test_a_tool_that_fails_is_a_result_marked_as_an_error(client, server):
    failed = client.call_tool(server.url, {}, "fail", {}, soon())
    assert failed.is_error and "fail" in failed.text
    unknown = client.call_tool(server.url, {}, "no_such_tool", {}, soon())
    assert unknown.is_error and "no_such_tool" in unknown.text
    bad_arguments = client.call_tool(server.url, {}, "add", {"a": "two"}, soon())
    assert bad_arguments.is_error


def test_loopback_is_refused_unless_allow_listed(server):
    strict = McpHttpClient(GuardedHttpClient())
    with pytest.raises(OutboundRefused):
        strict.list_tools(server.url, {}, soon())
    with pytest.raises(OutboundRefused):
        strict.call_tool("http://169.254.169.254/mcp", {}, "add", {}, soon())


def test_a_tool_slower_than_the_deadline_fails_in_time(client, server):
    with pytest.raises(OutboundFailed, match="in time"):
        client.call_tool(server.url, {}, "slow", {"seconds": 30}, Deadline.after(1.0))


def test_a_call_stops_when_the_user_stops(client, server):
    stopped = threading.Event()
    threading.Timer(0.5, stopped.set).start()
    with pytest.raises(OutboundFailed, match="stopped"):
        client.call_tool(server.url, {}, "slow", {"seconds": 30},
                         Deadline.after(30, cancelled=stopped.is_set))


def test_an_answer_larger_than_the_cap_is_refused(client, server):
    assert len(client.call_tool(server.url, {}, "big", {"chars": 1000}, soon()).text) == 1000
    with pytest.raises(OutboundFailed, match="larger than"):
        client.call_tool(server.url, {}, "big", {"chars": 200_000}, soon())


def test_headers_are_sent_and_a_refusal_does_not_echo_them(client, guarded_server):
    headers = {"Authorization": f"Bearer {TOKEN}"}
    assert client.call_tool(guarded_server.url, headers, "whoami", {}, soon()).text == \
        f"Bearer {TOKEN}"
    wrong = {"Authorization": "Bearer wrong-token"}
    with pytest.raises(OutboundFailed) as refused:
        client.list_tools(guarded_server.url, wrong, soon())
    assert "401" in refused.value.message and "wrong-token" not in refused.value.message


def test_an_unreachable_server_is_an_upstream_error(client):
    with pytest.raises(OutboundFailed, match="could not be reached"):
        client.list_tools("http://127.0.0.1:9/mcp", {}, soon())


def test_the_tool_list_is_kept_briefly_per_url_and_headers(server):
    now = [0.0]
    client = McpHttpClient(GuardedHttpClient(["127.0.0.1"]), list_ttl_s=30,
                           clock=lambda: now[0])
    first = client.list_tools(server.url, {}, soon())
    server_gone = server.url.replace("/mcp", "/nothing-here")
    assert client.list_tools(server.url, {}, soon()) == first  # kept: no second listing
    with pytest.raises(OutboundFailed):
        client.list_tools(server_gone, {}, soon())  # another url is listed on its own
    now[0] = 31.0
    assert client.list_tools(server.url, {}, soon()) == first  # listed again after the TTL


def test_calls_leave_no_thread_behind(client, server):
    client.call_tool(server.url, {}, "add", {"a": 1, "b": 1}, soon())
    before = set(threading.enumerate())
    for _ in range(3):
        client.call_tool(server.url, {}, "add", {"a": 1, "b": 1}, soon())
    with pytest.raises(OutboundFailed):
        client.call_tool(server.url, {}, "slow", {"seconds": 30}, Deadline.after(0.5))
    assert set(threading.enumerate()) - before == set()


def test_connections_go_to_the_checked_address_not_to_a_second_lookup(server):
    """`orders.internal` exists only in the client's resolver: the connection reaches the test
    server through the address that resolver gave and the rules checked; a name resolving to a
    private address is refused before any connection."""
    answers = {"orders.internal": ["127.0.0.1"], "rebound.example.com": ["10.0.0.7"]}
    guard = GuardedHttpClient(["orders.internal"], resolver=lambda host, port: answers[host])
    client = McpHttpClient(guard)
    url = server.url.replace("127.0.0.1", "orders.internal")
    assert client.call_tool(url, {}, "add", {"a": 20, "b": 22}, soon()).text == "42"
    with pytest.raises(OutboundRefused, match=r"10\.0\.0\.7"):
        client.list_tools(server.url.replace("127.0.0.1", "rebound.example.com"), {}, soon())
