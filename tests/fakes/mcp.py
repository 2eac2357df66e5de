"""The fake of the agents area's McpClient port (use_cases/agents/mcp_ports.py): a scripted
remote server; every request is kept in `requests` as (what, url, headers, name, arguments)."""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

from entities.deadline import Deadline
from use_cases.agents.mcp_ports import McpClient, RemoteTool, RemoteToolResult

Handler = Callable[[dict[str, Any]], RemoteToolResult]


class FakeMcpClient(McpClient):
    def __init__(self) -> None:
        self.tools: dict[str, tuple[RemoteTool, Handler]] = {}
        self.requests: list[tuple[str, str, dict[str, str], str | None, dict | None]] = []
        self.failure: Exception | None = None  # raised by every request while set

    def add(self, name: str, handler: Handler, description: str = "",
            schema: dict[str, Any] | None = None) -> None:
        self.tools[name] = (RemoteTool(name, description, schema or {
            "type": "object", "properties": {}}), handler)

    def list_tools(self, url: str, headers: dict[str, str], deadline: Deadline
                   ) -> list[RemoteTool]:
        self.requests.append(("list", url, dict(headers), None, None))
        if self.failure is not None:
            raise self.failure
        return [tool for tool, _handler in self.tools.values()]

    def call_tool(self, url: str, headers: dict[str, str], name: str,
                  arguments: dict[str, Any], deadline: Deadline) -> RemoteToolResult:
        self.requests.append(("call", url, dict(headers), name, dict(arguments)))
        if self.failure is not None:
            raise self.failure
        if name not in self.tools:
            return RemoteToolResult(f"Unknown tool: {name}", is_error=True)
        return self.tools[name][1](arguments)
