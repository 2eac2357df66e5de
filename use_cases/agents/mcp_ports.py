"""What the `mcp` tool kind needs from the outside: a client of remote MCP servers."""
from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any

from entities.deadline import Deadline


@dataclass(frozen=True)
class RemoteTool:
    """One tool an MCP server lists (`tools/list`): its name, description and the JSON schema of
    its arguments (`inputSchema`)."""

    name: str
    description: str = ""
    input_schema: dict[str, Any] = field(
        default_factory=lambda: {"type": "object", "properties": {}})


@dataclass(frozen=True)
class RemoteToolResult:
    """The text of a `tools/call` result (its text content blocks joined; structured content as
    JSON when there is no text), and whether the server marked it as an error (`isError`)."""

    text: str
    is_error: bool = False


class McpClient(ABC):
    """An MCP client over the Streamable HTTP transport. `url` obeys the outbound-address rules;
    `headers` (plain, e.g. Authorization) go on every request and are never logged.

    Both calls raise OutboundRefused (ValidationFailed) for a URL that may not be reached,
    HostNotResolved / OutboundFailed (UpstreamError) when the server cannot be reached, answers
    too much, breaks the protocol, refuses the request (an MCP error) or does not answer before
    `deadline`; they give up when `deadline.cancelled()` becomes true."""

    @abstractmethod
    def list_tools(self, url: str, headers: dict[str, str], deadline: Deadline
                   ) -> list[RemoteTool]:
        """Every tool the server lists (all pages, up to the client's own bound)."""

    @abstractmethod
    def call_tool(self, url: str, headers: dict[str, str], name: str,
                  arguments: dict[str, Any], deadline: Deadline) -> RemoteToolResult:
        """Calls tool `name` with `arguments`. A tool that fails in the server's eyes is a
        result with `is_error` (the model reads it), not an exception."""
