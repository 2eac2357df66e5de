"""Tool kind `mcp`: the tools of a remote MCP server (Streamable HTTP transport).

Config: `url` (the server's MCP endpoint, under the outbound-address rules), `headers?` (sent on
every request, e.g. `Authorization`; each value stored encrypted and shown masked as `********`,
like `http` tools' headers), `allowed_tools?` (the remote tool names the model may see and call;
all of them when absent).

One config gives one function per remote tool, named `<tool name>__<remote name>` (characters
outside `[A-Za-z0-9_-]` become `_`, cut to 64 characters; a name that collides with one already
given is left out) with the remote tool's description and `inputSchema` as parameters. A call
maps the function back to its remote tool, refuses a tool `allowed_tools` leaves out, and returns
the text the server sent; a result the server marks `isError`, and any failure to reach it, go
back to the model as an error result.

Headers kept across saves: a masked value sent back keeps the stored one, but only while the url
keeps its origin (scheme, host, port): credentials never follow a url to another server unless
they are sent again (a masked value with a new origin is refused, 422).
"""
from __future__ import annotations

import re
from typing import Any

from marshmallow import fields, validate

from entities.agent import ToolResult
from entities.errors import ValidationFailed
from entities.outbound import HostNotResolved
from use_cases.agents.mcp_ports import McpClient, RemoteTool
from use_cases.agents.secret_headers import STORED, opened, seal, shown
from use_cases.agents.tools import BaseToolSchema, ToolContext, ToolFunction, ToolKind, ToolScope
from use_cases.shared.ports import Encryptor, OutboundHttp

MAX_HEADERS = 20
MAX_HEADER_VALUE = 8192
MAX_ALLOWED_TOOLS = 128
HEADER_NAME = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]{1,128}$")  # RFC 9110 token
NOT_IN_NAME = re.compile(r"[^A-Za-z0-9_-]")
SEPARATOR = "__"


class McpToolSchema(BaseToolSchema):
    type = fields.String(required=True, validate=validate.Equal("mcp"))
    url = fields.String(required=True, validate=[
        validate.Length(max=2048), validate.URL(schemes={"http", "https"}, require_tld=False)])
    headers = fields.Dict(
        keys=fields.String(validate=validate.Regexp(HEADER_NAME, error="not a header name")),
        values=fields.String(validate=validate.Length(max=MAX_HEADER_VALUE)),
        load_default=dict, validate=validate.Length(max=MAX_HEADERS))
    allowed_tools = fields.List(fields.String(validate=validate.Length(min=1, max=128)),
                                validate=validate.Length(max=MAX_ALLOWED_TOOLS))


class McpToolKind(ToolKind):
    type = "mcp"
    config_schema = McpToolSchema

    def __init__(self, client: McpClient, outbound: OutboundHttp, encryptor: Encryptor):
        self.client = client
        self.outbound = outbound  # the address rules, checked when a config is saved
        self.encryptor = encryptor

    def prepare(self, config: dict[str, Any], previous: dict[str, Any] | None,
                scope: ToolScope) -> dict[str, Any]:
        """Checks the url against the outbound-address rules (ValidationFailed `url`; a host that
        does not resolve now is accepted) and stores the headers encrypted."""
        try:
            self.outbound.check_url(config["url"])
        except HostNotResolved:
            pass
        except ValidationFailed as refused:
            raise ValidationFailed(refused.message, details={"url": [refused.message]}) from None
        stored = {k: v for k, v in config.items() if k != "headers"}
        stored[STORED] = seal(config["headers"], config["url"], previous, self.type,
                              self.encryptor)
        return stored

    def public(self, stored: dict[str, Any]) -> dict[str, Any]:
        return shown(stored)

    def functions(self, stored: dict[str, Any], ctx: ToolContext) -> list[ToolFunction]:
        return [function for function, _remote in self._offered(stored, ctx)]

    def call(self, stored: dict[str, Any], function: str, arguments: dict[str, Any],
             ctx: ToolContext) -> ToolResult:
        remote = next((r for f, r in self._offered(stored, ctx) if f.name == function), None)
        if remote is None:
            return ToolResult.failed(f"the MCP server of {stored['name']} offers no tool "
                                     f"{function!r}")
        result = self.client.call_tool(stored["url"], self._headers(stored), remote.name,
                                       arguments, ctx.deadline)
        if result.is_error:
            return ToolResult.failed(result.text or "the tool failed")
        return ToolResult.ok(result.text)

    def _offered(self, stored: dict[str, Any], ctx: ToolContext
                 ) -> list[tuple[ToolFunction, RemoteTool]]:
        allowed = stored.get("allowed_tools")
        offered: list[tuple[ToolFunction, RemoteTool]] = []
        taken: set[str] = set()
        for remote in self.client.list_tools(stored["url"], self._headers(stored), ctx.deadline):
            if allowed is not None and remote.name not in allowed:
                continue
            name = function_name(stored["name"], remote.name)
            if name in taken:
                continue
            taken.add(name)
            offered.append((ToolFunction(name, remote.description or remote.name,
                                         _object_schema(remote.input_schema)), remote))
        return offered

    def _headers(self, stored: dict[str, Any]) -> dict[str, str]:
        return opened(stored, self.encryptor)


def function_name(tool_name: str, remote_name: str) -> str:
    """`<tool name>__<remote name>`, made of `[A-Za-z0-9_-]` and at most 64 characters."""
    return NOT_IN_NAME.sub("_", f"{tool_name}{SEPARATOR}{remote_name}")[:64]


def _object_schema(schema: dict[str, Any]) -> dict[str, Any]:
    """The remote `inputSchema`, as an object schema (OpenAI's function parameters must be)."""
    if isinstance(schema, dict) and schema.get("type") == "object":
        return {"properties": {}, **schema}
    return {"type": "object", "properties": {}}


