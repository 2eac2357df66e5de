"""What an `mcp` tool costs per use: the adapter (adapters/mcp_client.py) against a local MCP
server (the official SDK's FastMCP over Streamable HTTP, in its own process), one MCP session
per call, run on an event loop of the calling thread (`anyio.run`).

    python -m bench.mcp_calls [--calls 30]

Prints the median and p95 of: listing the tools (a fresh client: no cached list), listing them
again (the tool list kept per url and headers), calling a tool, and an empty `anyio.run` (what
running the async SDK from sync code costs by itself).
"""
from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

import anyio

from adapters.mcp_client import McpHttpClient
from adapters.outbound_http import GuardedHttpClient
from bench.common import percentile
from entities.deadline import Deadline
from tests.support.mcp_server import start_mcp_server


def timed(calls: int, work: Callable[[], object]) -> list[float]:
    spent = []
    for _ in range(calls):
        started = time.perf_counter()
        work()
        spent.append((time.perf_counter() - started) * 1000)
    return spent


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--calls", type=int, default=30)
    calls = parser.parse_args().calls
    server = start_mcp_server()
    try:
        def client() -> McpHttpClient:
            return McpHttpClient(GuardedHttpClient(["127.0.0.1"]))

        kept = client()
        kept.list_tools(server.url, {}, Deadline.after(10))  # warm: imports, first connection

        async def nothing() -> None:
            return None

        results = {
            "list (cold)": timed(calls, lambda: client().list_tools(server.url, {},
                                                                    Deadline.after(10))),
            "list (kept)": timed(calls, lambda: kept.list_tools(server.url, {},
                                                                Deadline.after(10))),
            "call": timed(calls, lambda: kept.call_tool(server.url, {}, "add", {"a": 1, "b": 2},
                                                        Deadline.after(10))),
            "anyio.run (empty)": timed(calls, lambda: anyio.run(nothing)),
        }
        for name, spent in results.items():
            print(f"{name:20s} median {statistics.median(spent):8.2f} ms   "
                  f"p95 {percentile(spent, 0.95):8.2f} ms")
    finally:
        server.stop()


if __name__ == "__main__":
    main()
