"""Remote MCP servers over the Streamable HTTP transport, through the official `mcp` SDK.

Each call opens one MCP session (`Client` over `streamable_http_client`), does its work and
closes it; the SDK is async, so the call runs on an event loop of its own (`anyio.run` in the
calling thread: nothing is shared between threads, nothing outlives the call). The HTTP client the
SDK uses is adapters/outbound_httpx.py's: the outbound-address rules on every connection, every
phase bounded by the deadline, each response body bounded. The SDK's own session id, protocol
negotiation (`server/discover`, then the initialize handshake for older servers) and same-origin
redirect rule apply.

Errors become the port's: OutboundRefused / HostNotResolved from the address rules, and
OutboundFailed (an UpstreamError) naming what went wrong for anything else - never with the
headers, which are not logged either. Tool lists are kept `list_ttl_s` seconds per (url, headers)
so a reply that offers a server's tools to the model does not list them on every round.
"""
from __future__ import annotations

import functools
import hashlib
import json
import threading
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, TypeVar

import anyio
import httpx2

from adapters.outbound_http import GuardedHttpClient
from adapters.outbound_httpx import guarded_async_client
from entities.deadline import Deadline
from entities.errors import DomainError
from entities.outbound import OutboundFailed
from use_cases.agents.mcp_ports import McpClient, RemoteTool, RemoteToolResult

if TYPE_CHECKING:  # the SDK is imported on first use: it takes ~0.5 s, too much for start-up
    from mcp import Client
    from mcp.types import CallToolResult

T = TypeVar("T")

CANCEL_POLL_S = 0.2


class McpHttpClient(McpClient):
    def __init__(self, outbound: GuardedHttpClient, max_response_bytes: int = 1024 * 1024,
                 max_tools: int = 128, max_pages: int = 10, list_ttl_s: float = 30.0,
                 cache_size: int = 256, clock: Callable[[], float] = time.monotonic):
        self.outbound = outbound  # its address rules (allow-list from the settings)
        self.max_response_bytes = max_response_bytes
        self.max_tools = max_tools
        self.max_pages = max_pages
        self.list_ttl_s = list_ttl_s
        self.cache_size = cache_size
        self.clock = clock
        self._lists: OrderedDict[str, tuple[float, list[RemoteTool]]] = OrderedDict()
        self._lock = threading.Lock()

    def list_tools(self, url: str, headers: dict[str, str], deadline: Deadline
                   ) -> list[RemoteTool]:
        key = _cache_key(url, headers)
        with self._lock:
            kept = self._lists.get(key)
            if kept is not None and kept[0] > self.clock():
                return list(kept[1])
        tools = self._run(url, headers, deadline, self._list)
        with self._lock:
            self._lists[key] = (self.clock() + self.list_ttl_s, tools)
            self._lists.move_to_end(key)
            while len(self._lists) > self.cache_size:
                self._lists.popitem(last=False)
        return list(tools)

    def call_tool(self, url: str, headers: dict[str, str], name: str,
                  arguments: dict[str, Any], deadline: Deadline) -> RemoteToolResult:
        async def call(client: Client) -> RemoteToolResult:
            return _result(await client.call_tool(name, arguments))
        return self._run(url, headers, deadline, call)

    async def _list(self, client: Client) -> list[RemoteTool]:
        tools: list[RemoteTool] = []
        cursor: str | None = None
        for _page in range(self.max_pages):
            page = await client.list_tools(cursor=cursor)
            tools.extend(RemoteTool(t.name, t.description or "", dict(t.input_schema))
                         for t in page.tools)
            cursor = page.next_cursor
            if cursor is None or len(tools) >= self.max_tools:
                break
        return tools[:self.max_tools]

    def _run(self, url: str, headers: dict[str, str], deadline: Deadline,
             work: Callable[[Client], Awaitable[T]]) -> T:
        self.outbound.check_url(url)  # a clear refusal before any connection
        if deadline.remaining() <= 0:
            raise OutboundFailed("The MCP server was not called: no time was left")
        statuses: list[int] = []
        try:
            return anyio.run(functools.partial(self._session, url, headers, deadline, work,
                                               statuses))
        except TimeoutError:
            raise OutboundFailed("The MCP server did not answer in time") from None
        except Exception as error:  # anything the SDK, httpx2 or anyio raises becomes ours
            raise _ours(error, statuses) from None

    async def _session(self, url: str, headers: dict[str, str], deadline: Deadline,
                       work: Callable[[Client], Awaitable[T]], statuses: list[int]) -> T:
        from mcp import Client
        from mcp.client.streamable_http import streamable_http_client
        from mcp.types import Implementation

        timeout = deadline.remaining()
        outcome: list[T] = []
        stopped = False
        with anyio.fail_after(timeout):
            async with anyio.create_task_group() as group:
                async def do_work() -> None:
                    http = guarded_async_client(self.outbound.checked_address, headers, timeout,
                                                self.max_response_bytes, statuses)
                    async with http, Client(
                            streamable_http_client(url, http_client=http), cache=None,
                            read_timeout_seconds=timeout,
                            client_info=Implementation(name="SynapScale", version="1.0")
                    ) as client:
                        outcome.append(await work(client))
                    group.cancel_scope.cancel()

                async def watch_stop() -> None:
                    nonlocal stopped
                    while not deadline.cancelled():
                        await anyio.sleep(CANCEL_POLL_S)
                    stopped = True
                    group.cancel_scope.cancel()

                group.start_soon(do_work)
                group.start_soon(watch_stop)
        if stopped or not outcome:
            raise OutboundFailed("The call to the MCP server was stopped")
        return outcome[0]


def _result(result: CallToolResult) -> RemoteToolResult:
    from mcp.types import EmbeddedResource, TextContent, TextResourceContents

    parts: list[str] = []
    for block in result.content:
        if isinstance(block, TextContent):
            parts.append(block.text)
        elif isinstance(block, EmbeddedResource) and isinstance(block.resource,
                                                                TextResourceContents):
            parts.append(block.resource.text)
        else:
            parts.append(f"[{block.type} content left out]")
    if not parts and result.structured_content is not None:
        parts.append(json.dumps(result.structured_content, default=str, ensure_ascii=False))
    return RemoteToolResult("\n".join(parts), is_error=result.is_error)


def _ours(error: BaseException, statuses: list[int]) -> DomainError:
    """The port's error for whatever the SDK, httpx2 or anyio raised (the first meaningful one
    inside exception groups); `statuses`: the HTTP error statuses the server answered, which
    the SDK's error does not name."""
    from mcp import MCPError
    from pydantic import ValidationError

    leaf = _leaf(error)
    if isinstance(leaf, DomainError):
        return leaf
    if isinstance(leaf, TimeoutError | httpx2.TimeoutException):
        return OutboundFailed("The MCP server did not answer in time")
    if isinstance(leaf, MCPError) and statuses:
        hint = " (check the tool's headers)" if statuses[-1] in (401, 403) else ""
        return OutboundFailed(f"The MCP server answered HTTP {statuses[-1]}{hint}")
    if isinstance(leaf, MCPError):
        return OutboundFailed(f"The MCP server refused the request: {leaf.message}")
    if isinstance(leaf, httpx2.HTTPStatusError):
        return OutboundFailed(f"The MCP server answered HTTP {leaf.response.status_code}")
    if isinstance(leaf, httpx2.HTTPError):
        return OutboundFailed(f"The MCP server could not be reached: {type(leaf).__name__}")
    if isinstance(leaf, ValidationError):
        return OutboundFailed("The MCP server sent an answer that breaks the protocol")
    return OutboundFailed(f"The call to the MCP server failed: {type(leaf).__name__}")


def _leaf(error: BaseException) -> BaseException:
    while isinstance(error, BaseExceptionGroup) and error.exceptions:
        error = next((e for e in error.exceptions if isinstance(e, Exception)),
                     error.exceptions[0])  # not a cancellation (a BaseException) if there is more
    return error


def _cache_key(url: str, headers: dict[str, str]) -> str:
    material = json.dumps([url, sorted((k.lower(), v) for k, v in headers.items())])
    return hashlib.sha256(material.encode()).hexdigest()
