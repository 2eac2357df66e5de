"""A remote MCP server for tests: the official SDK's FastMCP (named `MCPServer` in mcp 2.x) over
the Streamable HTTP transport, in a process of its own on a free loopback port.

Tools: `lookup_order(order_id)` (a text answer), `add(a, b)`, `fail()` (a tool error: the result
has `isError`), `slow(seconds)`, `big(chars)` (a long answer) and `whoami()` (the Authorization
header it received). With `--token T` every request without `Authorization: Bearer T` is
answered 401. `python -m tests.support.mcp_server [--token T]` prints the port, then serves
until killed.
"""
from __future__ import annotations

import argparse
import socket
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import anyio
from mcp.server.mcpserver import Context, MCPServer
from mcp.server.transport_security import TransportSecuritySettings

ROOT = Path(__file__).resolve().parents[2]


def build_server() -> MCPServer:
    server = MCPServer("orders")

    @server.tool()
    def lookup_order(order_id: str) -> str:
        """Looks up an order by its id."""
        return f"Order {order_id}: shipped to Lisbon on 3 March"

    @server.tool()
    def add(a: int, b: int) -> str:
        """Adds two integers."""
        return str(a + b)

    @server.tool()
    def fail() -> str:
        """Always fails."""
        raise ValueError("the warehouse is closed")

    @server.tool()
    async def slow(seconds: float) -> str:
        """Answers after `seconds`."""
        await anyio.sleep(seconds)
        return "finally"

    @server.tool()
    def big(chars: int) -> str:
        """Answers `chars` characters."""
        return "x" * chars

    @server.tool()
    def whoami(ctx: Context) -> str:
        """The Authorization header of the request."""
        request = ctx.request_context.request
        return request.headers.get("authorization", "") if request is not None else ""

    return server


def _require_token(app, token: str):
    async def guarded(scope, receive, send):
        if scope["type"] == "http":
            headers = dict(scope.get("headers") or [])
            if headers.get(b"authorization") != f"Bearer {token}".encode():
                await send({"type": "http.response.start", "status": 401,
                            "headers": [(b"content-type", b"text/plain")]})
                await send({"type": "http.response.body", "body": b"unauthorized"})
                return
        await app(scope, receive, send)
    return guarded


def main() -> None:
    import logging

    import uvicorn

    parser = argparse.ArgumentParser()
    parser.add_argument("--token")
    args = parser.parse_args()
    # the Host header may name the test's own host names (orders.internal:<port>)
    hosts = TransportSecuritySettings(allowed_hosts=["127.0.0.1:*", "localhost:*",
                                                     "orders.internal:*"])
    app = build_server().streamable_http_app(transport_security=hosts)
    if args.token:
        app = _require_token(app, args.token)
    logging.disable(logging.WARNING)
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen()
    print(sock.getsockname()[1], flush=True)
    uvicorn.Server(uvicorn.Config(app, log_level="error", lifespan="on")).run(sockets=[sock])


@dataclass
class McpTestServer:
    process: subprocess.Popen
    port: int

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/mcp"

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def start_mcp_server(token: str | None = None) -> McpTestServer:
    """Starts the server process and returns once it listens (its port is printed after the
    socket is bound, and uvicorn accepts on it from then on)."""
    command = [sys.executable, "-m", "tests.support.mcp_server", *(["--token", token] if token else [])]
    process = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, text=True)
    assert process.stdout is not None
    line = process.stdout.readline()
    if not line.strip().isdigit():
        process.kill()
        raise RuntimeError(f"the MCP test server did not start: {line!r}")
    return McpTestServer(process, int(line))


if __name__ == "__main__":
    main()
