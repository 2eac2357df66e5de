"""The `mcp` tool kind over a fake MCP client: the remote tools as functions (named, narrowed by
`allowed_tools`), calls mapped back, errors as results, the url under the address rules, and
headers encrypted, masked, and kept only while the url stays on its server."""
from __future__ import annotations

import pytest

from entities.actor import Actor
from entities.agent import Agent
from entities.deadline import Deadline
from entities.errors import ValidationFailed
from entities.outbound import OutboundFailed
from tests.fakes.mcp import FakeMcpClient
from tests.fakes.shared import FakeEncryptor, FakeOutboundHttp
from use_cases.agents.mcp_ports import RemoteToolResult
from use_cases.agents.mcp_tool import McpToolKind, function_name
from use_cases.agents.secret_headers import MASK
from use_cases.agents.tools import ToolContext, ToolScope

URL = "https://mcp.example.com/mcp"
ALICE = Actor("alice")


@pytest.fixture
def remote():
    client = FakeMcpClient()
    client.add("lookup_order", lambda args: RemoteToolResult(f"Order {args['order_id']}: shipped"),
               "Looks up an order", {"type": "object", "properties": {
                   "order_id": {"type": "string"}}, "required": ["order_id"]})
    client.add("cancel_order", lambda args: RemoteToolResult("cancelled"), "Cancels an order")
    client.add("fail", lambda args: RemoteToolResult("the warehouse is closed", is_error=True))
    return client


@pytest.fixture
def kind(remote):
    return McpToolKind(remote, FakeOutboundHttp(), FakeEncryptor())


def saved(kind, previous=None, **config) -> dict:
    raw = {"type": "mcp", "name": "orders", "url": URL, **config}
    return kind.prepare(kind.load(raw), previous, ToolScope(ALICE, "ws"))


def context(stored: dict) -> ToolContext:
    agent = Agent(id="a1", workspace_id="ws", name="Helper", model="m", created_by="alice",
                  tools=[stored])
    return ToolContext(actor=ALICE, workspace_id="ws", agent=agent, deadline=Deadline.after(5))


def test_each_remote_tool_is_a_function_with_its_description_and_schema(kind):
    stored = saved(kind)
    functions = {f.name: f for f in kind.functions(stored, context(stored))}
    assert set(functions) == {"orders__lookup_order", "orders__cancel_order", "orders__fail"}
    lookup = functions["orders__lookup_order"]
    assert lookup.description == "Looks up an order"
    assert lookup.parameters["required"] == ["order_id"]
    assert functions["orders__fail"].description == "fail"  # no description: its name


def test_allowed_tools_narrows_what_the_model_sees_and_may_call(kind, remote):
    stored = saved(kind, allowed_tools=["lookup_order"])
    ctx = context(stored)
    assert [f.name for f in kind.functions(stored, ctx)] == ["orders__lookup_order"]
    refused = kind.call(stored, "orders__cancel_order", {}, ctx)
    assert refused.error is not None and "cancel_order" in refused.error
    assert not any(what == "call" for what, *_rest in remote.requests)


def test_a_call_reaches_the_remote_tool_and_its_text_is_the_result(kind, remote):
    stored = saved(kind)
    result = kind.call(stored, "orders__lookup_order", {"order_id": "A-42"}, context(stored))
    assert (result.content, result.error) == ("Order A-42: shipped", None)
    assert remote.requests[-1] == ("call", URL, {}, "lookup_order", {"order_id": "A-42"})


def test_a_remote_tool_error_goes_back_to_the_model_as_an_error_result(kind):
    stored = saved(kind)
    result = kind.call(stored, "orders__fail", {}, context(stored))
    assert result.error == "the warehouse is closed"
    assert "the warehouse is closed" in result.content


def test_an_unreachable_server_raises_for_the_loop_to_report(kind, remote):
    stored = saved(kind)
    remote.failure = OutboundFailed("The MCP server could not be reached: ConnectError")
    with pytest.raises(OutboundFailed):
        kind.functions(stored, context(stored))


def test_a_url_to_a_private_address_is_refused_on_save(kind):
    for url in ("http://127.0.0.1:8080/mcp", "http://169.254.169.254/mcp"):
        with pytest.raises(ValidationFailed) as refused:
            saved(kind, url=url)
        assert "url" in refused.value.details
    with pytest.raises(ValidationFailed):
        kind.load({"type": "mcp", "name": "orders", "url": "ftp://example.com/mcp"})
    with pytest.raises(ValidationFailed):
        kind.load({"type": "mcp", "name": "orders", "url": URL, "command": "rm -rf /"})


def test_headers_are_stored_encrypted_shown_masked_and_sent_in_clear(kind, remote):
    stored = saved(kind, headers={"Authorization": "Bearer s3cr3t"})
    assert "s3cr3t" not in str(stored)
    assert kind.public(stored)["headers"] == {"Authorization": MASK}
    assert "headers_encrypted" not in kind.public(stored)
    kind.call(stored, "orders__lookup_order", {"order_id": "1"}, context(stored))
    assert remote.requests[-1][2] == {"Authorization": "Bearer s3cr3t"}


def test_a_masked_header_keeps_its_value_only_on_the_same_server(kind):
    first = saved(kind, headers={"Authorization": "Bearer s3cr3t"})
    again = saved(kind, previous=first, url=URL + "?v=2", headers={"Authorization": MASK})
    assert again["headers_encrypted"] == first["headers_encrypted"]
    with pytest.raises(ValidationFailed):
        saved(kind, previous=first, url="https://evil.example.net/mcp",
              headers={"Authorization": MASK})
    moved = saved(kind, previous=first, url="https://evil.example.net/mcp")
    assert moved["headers_encrypted"] == {}


def test_function_names_are_safe_and_at_most_64_characters():
    assert function_name("orders", "get.order/status") == "orders__get_order_status"
    assert len(function_name("t" * 40, "r" * 40)) == 64
