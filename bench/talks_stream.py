"""Streaming replies: the latency the service adds, and the database work of reading talks.

    python -m bench.talks_stream [--tokens 50] [--token-delay 0.02] [--concurrency 1,100]
                                 [--samples 20] [--rounds 2] [--workers 2] [--messages 100000]

1. Latency. gunicorn (the project's gunicorn.conf.py) serves the app on a private database of an
   embedded MongoDB; its models point at the mock OpenAI-compatible provider of tests/support,
   streaming `--tokens` tokens `--token-delay` seconds apart. For each concurrency, the same
   number of streams runs three ways: straight to the mock (the floor), through
   `POST /api/v1/talks/{id}/messages` with SSE, and through the talk WebSocket. Time to first
   delta and total time are measured from the request (or the WebSocket `message` frame) to the
   first text and to the end; "added" is the service's figure minus the mock's, at p50 and p95.
   Concurrency 1 takes `--samples` streams one after another; higher concurrencies fire every
   stream at once, `--rounds` times.
2. Database commands. An app in this process, with a pymongo command listener, answers "list my
   talks" and "page back through a talk" (a talk of `--messages` messages) at several page
   sizes; the table counts every MongoDB command each request sent, by purpose.
"""
from __future__ import annotations

import argparse
import http.server
import json
import os
import statistics
import subprocess
import tempfile
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import requests
import websocket
from bson import ObjectId
from pymongo import MongoClient, monitoring

from adapters.embedded_mongo import EmbeddedMongo, free_port
from bench.common import percentile, start_gunicorn, wait_healthy
from config.settings import Settings
from tests.support.mock_provider import PRIMARY, MockProvider

WARM_STREAMS = 8
PAGE_SIZES = (10, 50, 100)
PURPOSES = {"sessions": "auth", "memberships": "access", "workspaces": "access",
            "talks": "talks", "messages": "messages"}


# --- latency ------------------------------------------------------------------------------------

def sse_lines(response) -> iter:
    return response.iter_lines(decode_unicode=True)


def time_direct(mock_url: str, _talk_id: str, _headers: dict, start: threading.Event):
    start.wait()
    began = time.perf_counter()
    first = None
    with requests.post(f"{mock_url}/chat/completions", stream=True, timeout=120, json={
            "model": PRIMARY, "stream": True,
            "messages": [{"role": "user", "content": "bench"}]}) as response:
        for line in sse_lines(response):
            if not line.startswith("data:") or line == "data: [DONE]":
                continue
            chunk = json.loads(line[5:])
            if first is None and chunk["choices"] and chunk["choices"][0]["delta"].get("content"):
                first = time.perf_counter() - began
    return first, time.perf_counter() - began


def time_sse(base: str, talk_id: str, headers: dict, start: threading.Event):
    start.wait()
    began = time.perf_counter()
    first = None
    with requests.post(f"{base}/api/v1/talks/{talk_id}/messages", headers=headers, stream=True,
                       timeout=120, json={"content": "bench", "stream": True}) as response:
        response.raise_for_status()
        for line in sse_lines(response):
            if line == "event: delta" and first is None:
                first = time.perf_counter() - began
            elif line in ("event: done", "event: error"):
                if line == "event: error":
                    raise RuntimeError("the reply failed")
                break
    return first, time.perf_counter() - began


def time_ws(ws_base: str, talk_id: str, token: str, start: threading.Event):
    ws = websocket.create_connection(f"{ws_base}/api/v1/ws/talks/{talk_id}?token={token}",
                                     timeout=120)
    try:
        start.wait()
        began = time.perf_counter()
        ws.send(json.dumps({"type": "message", "content": "bench"}))
        first = None
        while True:
            frame = json.loads(ws.recv())
            if frame["type"] == "delta" and first is None:
                first = time.perf_counter() - began
            elif frame["type"] == "error":
                raise RuntimeError(f"the reply failed: {frame}")
            elif frame["type"] == "done":
                return first, time.perf_counter() - began
    finally:
        ws.close()


def wave(pool: ThreadPoolExecutor, run: Callable, targets: list) -> list[tuple[float, float]]:
    """Every target at once (threads waiting at a start line), then their (ttft, total)."""
    start = threading.Event()
    futures = [pool.submit(run, *target, start) for target in targets]
    time.sleep(0.3 + 0.01 * len(targets))  # WebSockets connect before the start line
    start.set()
    return [future.result() for future in futures]


def measure(pool, run, targets, concurrency: int, samples: int, rounds: int):
    results = []
    if concurrency == 1:
        for index in range(samples):
            results += wave(pool, run, [targets[index % len(targets)]])
    else:
        for _ in range(rounds):
            results += wave(pool, run, targets[:concurrency])
    return [r[0] for r in results], [r[1] for r in results]


def latency_rows(args, base: str, mock_url: str) -> list[dict]:
    email = f"bench-{uuid.uuid4().hex[:8]}@example.com"
    body = requests.post(f"{base}/api/v1/auth/register", timeout=30, json={
        "email": email, "password": "bench-password-1", "name": "Bench"}).json()
    token = body["access_token"]
    headers = {"Authorization": f"Bearer {token}"}
    most = max(args.concurrency)
    talks = [requests.post(f"{base}/api/v1/talks", json={"name": f"bench {n}"}, headers=headers,
                           timeout=30).json()["id"] for n in range(most)]
    ws_base = base.replace("http://", "ws://")
    ways = {
        "mock directly": (time_direct, [(mock_url, talk, {}) for talk in talks]),
        "SSE": (time_sse, [(base, talk, headers) for talk in talks]),
        "WebSocket": (time_ws, [(ws_base, talk, token) for talk in talks]),
    }
    rows = []
    with ThreadPoolExecutor(most + 8) as pool:
        wave(pool, time_sse, ways["SSE"][1][:WARM_STREAMS])  # LiteLLM loaded in every worker
        wave(pool, time_ws, ways["WebSocket"][1][:WARM_STREAMS])
        for concurrency in args.concurrency:
            floor = None
            for name, (run, targets) in ways.items():
                ttft, total = measure(pool, run, targets, concurrency, args.samples, args.rounds)
                row = {"way": name, "concurrency": concurrency, "n": len(total),
                       "ttft": (statistics.median(ttft), percentile(ttft, 0.95)),
                       "total": (statistics.median(total), percentile(total, 0.95))}
                if floor is None:
                    floor = row
                else:
                    row["added_ttft"] = tuple(a - b for a, b in zip(row["ttft"], floor["ttft"],
                                                                    strict=True))
                    row["added_total"] = tuple(a - b for a, b in zip(row["total"],
                                                                     floor["total"], strict=True))
                rows.append(row)
    return rows


# --- database commands --------------------------------------------------------------------------

class CommandLog(monitoring.CommandListener):
    """Commands sent from this thread (the test client's requests), not by background threads
    (the event bus listener, the webhook dispatcher, the usage recorder)."""

    def __init__(self):
        self.commands: list[tuple[str, str]] = []
        self.thread = threading.get_ident()

    def started(self, event):
        if threading.get_ident() != self.thread:
            return
        target = event.command.get(event.command_name)
        collection = target if isinstance(target, str) else ""
        self.commands.append((event.command_name, collection))

    def succeeded(self, event):
        pass

    def failed(self, event):
        pass


def purpose(collection: str) -> str:
    if collection.startswith("ratelimit"):
        return "rate limit"
    return PURPOSES.get(collection, collection or "other")


def seed_messages(mongo_uri: str, database: str, talk_id: str, count: int) -> None:
    """`count` messages stored as the app stores them (numbered, each the child of the one
    before, the last the talk's current leaf), written in batches by a client that waits as
    long as the embedded server needs (a retried batch would write twice)."""
    client = MongoClient(mongo_uri, socketTimeoutMS=600_000, retryWrites=False)
    db = client[database]
    ids = [ObjectId() for _ in range(count)]
    batch = 5_000
    for start in range(0, count, batch):
        db["messages"].insert_many([
            {"_id": ids[n], "talk_id": ObjectId(talk_id), "seq": n + 1, "workspace_id": "",
             "user_id": "", "role": "user" if n % 2 == 0 else "assistant",
             "parent_id": ids[n - 1] if n else None, "content": f"message {n}",
             "status": "complete", "deleted": False, "file_ids": []}
            for n in range(start, min(count, start + batch))])
    db["talks"].update_one({"_id": ObjectId(talk_id)}, {"$set": {
        "last_seq": count, "message_count": count, "current_leaf_id": ids[-1] if ids else None}})
    client.close()


def command_rows(args, mongo_uri: str, catalogue: Path) -> list[dict]:
    from app import create_app, shutdown

    log = CommandLog()
    settings = Settings(mongodb_uri=mongo_uri, mongodb_database=f"bench_cmd_{uuid.uuid4().hex[:6]}",
                        log_level="WARNING", models_config=str(catalogue),
                        default_model=f"openai/{PRIMARY}", ratelimit_default="100000 per minute")
    app = create_app(settings, mongo_listeners=[log])
    container = app.extensions["synapscale"]
    client = app.test_client()
    try:
        body = client.post("/api/v1/auth/register", json={
            "email": "commands@example.com", "password": "bench-password-1", "name": "B"}).json
        headers = {"Authorization": f"Bearer {body['access_token']}"}
        workspace = client.get("/api/v1/workspaces", headers=headers).json["items"][0]["id"]
        talk_ids = [client.post("/api/v1/talks", json={"name": f"t{n}"}, headers=headers).json["id"]
                    for n in range(120)]
        big = talk_ids[0]
        seed_messages(mongo_uri, settings.mongodb_database, big, args.messages)
        middle = str(container.db["messages"].find_one(  # every field of the index: fast
            {"talk_id": ObjectId(big), "deleted": False, "seq": args.messages // 2},
            {"_id": 1})["_id"])
        requests_to_count = []
        for size in PAGE_SIZES:
            requests_to_count += [
                (f"list talks, size {size}", f"/api/v1/talks?size={size}"),
                (f"list talks of a workspace, size {size}",
                 f"/api/v1/talks?workspace_id={workspace}&size={size}"),
                (f"newest {size} of {args.messages:,} messages",
                 f"/api/v1/talks/{big}/messages?limit={size}"),
                (f"{size} messages before a cursor",
                 f"/api/v1/talks/{big}/messages?limit={size}&before={middle}"),
            ]
        rows = []
        for label, url in requests_to_count:
            client.get(url, headers=headers)  # warm
            times = []
            for _ in range(5):
                log.commands.clear()
                began = time.perf_counter()
                response = client.get(url, headers=headers)
                times.append(time.perf_counter() - began)
                assert response.status_code == 200, response.json
            by_purpose = Counter(purpose(collection) for _, collection in log.commands)
            rows.append({"request": label, "total": len(log.commands), "by": by_purpose,
                         "ms": statistics.median(times) * 1000})
        return rows
    finally:
        shutdown(container)  # the database goes with the embedded server's directory


# --- report -------------------------------------------------------------------------------------

def fmt(pair) -> str:
    return f"{pair[0] * 1000:7.0f} {pair[1] * 1000:7.0f}"


def print_latency(rows: list[dict], args) -> None:
    print(f"\nStreaming a {args.tokens}-token reply, {args.token_delay * 1000:.0f} ms per token, "
          f"from the mock provider; gunicorn {args.workers} workers (gthread), embedded MongoDB, "
          f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}. Times in ms, p50 and "
          f"p95.\n")
    header = (f"{'way':<14} {'streams':>7} {'n':>4} | {'first delta':>15} | {'total':>15} | "
              f"{'added first delta':>17} | {'added total':>15}")
    print(header)
    print(f"{'':<27} | {'p50':>7} {'p95':>7} | {'p50':>7} {'p95':>7} | {'p50':>8} {'p95':>8} | "
          f"{'p50':>7} {'p95':>7}")
    print("-" * len(header))
    for row in rows:
        added = (f"{row['added_ttft'][0] * 1000:8.0f} {row['added_ttft'][1] * 1000:8.0f} | "
                 f"{fmt(row['added_total'])}") if "added_ttft" in row else f"{'':>17} | {'':>15}"
        print(f"{row['way']:<14} {row['concurrency']:>7} {row['n']:>4} | {fmt(row['ttft'])} | "
              f"{fmt(row['total'])} | {added}")


def print_commands(rows: list[dict]) -> None:
    print("\nMongoDB commands per request (every command the app's clients sent), and the "
          "request's median time in-process:\n")
    header = f"{'request':<42} {'commands':>8}  {'by purpose':<55} {'ms':>7}"
    print(header)
    print("-" * len(header))
    for row in rows:
        by = ", ".join(f"{name} {count}" for name, count in sorted(row["by"].items()))
        print(f"{row['request']:<42} {row['total']:>8}  {by:<55} {row['ms']:>7.1f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tokens", type=int, default=50)
    parser.add_argument("--token-delay", type=float, default=0.02)
    parser.add_argument("--concurrency", default="1,100",
                        type=lambda text: [int(n) for n in text.split(",")])
    parser.add_argument("--samples", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--messages", type=int, default=100_000)
    parser.add_argument("--only", choices=["latency", "commands"],
                        help="run one of the two parts")
    args = parser.parse_args()

    workdir = Path(tempfile.mkdtemp(prefix="bench-talks-"))
    # socketserver listens with a backlog of 5: a burst of 100 connections would be refused
    http.server.ThreadingHTTPServer.request_queue_size = 1024
    provider = MockProvider()
    provider.behave(None, reply=" ".join(f"t{n}" for n in range(args.tokens)),
                    token_delay=args.token_delay)
    catalogue = provider.write_catalogue(workdir / "models.yaml", timeout=120, num_retries=0)
    mongo = EmbeddedMongo(workdir / "mongo", free_port())
    mongo_uri = mongo.ensure_running()
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = {"MONGODB_URI": mongo_uri, "MONGODB_DATABASE": "bench_talks",
           "MODELS_CONFIG": str(catalogue), "DEFAULT_MODEL": f"openai/{PRIMARY}",
           "LOG_LEVEL": os.environ.get("BENCH_LOG_LEVEL", "WARNING"),
           "LITELLM_LOCAL_MODEL_COST_MAP": "True", "RATELIMIT_ENABLED": "false",
           "CHAT_MAX_GENERATIONS": "256"}
    try:
        if args.only != "commands":
            print_latency(serve_and_measure(args, env, base, port, workdir, provider.url), args)
        if args.only != "latency":
            print_commands(command_rows(args, mongo_uri, catalogue))
    finally:
        mongo.stop()
        provider.close()


def serve_and_measure(args, env: dict, base: str, port: int, workdir: Path,
                      mock_url: str) -> list[dict]:
    server = start_gunicorn(port, env, workdir / "gunicorn.log", "-w", str(args.workers))
    try:
        wait_healthy(base, server)
        return latency_rows(args, base, mock_url)
    finally:
        server.terminate()
        try:
            server.wait(30)
        except subprocess.TimeoutExpired:
            server.kill()


if __name__ == "__main__":
    main()
