"""How many WebSockets one gunicorn server holds, per worker class, while 100 of them stream.

    python -m bench.ws_capacity [--classes gthread,gevent] [--held 100,1000] [--streams 100]

For each worker class, gunicorn starts with the project's gunicorn.conf.py (only the class is
overridden) on a private database. 101 users are registered: `--streams` of them each receive
`--rate` events per second, published on the event bus from this process (as another worker
would), and one idle user owns every other connection on `/api/v1/ws/user`. The table shows
connections held, stream delivery (delivered/expected and latency from publish to receipt), and
the server's memory (RSS of master + workers) and its growth per held connection.

The clients are asyncio + wsproto, so a thousand of them cost this process one thread.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import requests
from pymongo.errors import PyMongoError
from wsproto import ConnectionType, WSConnection
from wsproto.events import (
    AcceptConnection,
    CloseConnection,
    Ping,
    RejectConnection,
    Request,
    TextMessage,
)

from adapters.embedded_mongo import EmbeddedMongo, free_port
from adapters.event_bus import MongoEventBus
from bench.common import percentile, start_gunicorn, wait_healthy
from repositories.mongo import connect

ROOT = Path(__file__).resolve().parents[1]
PATH = "/api/v1/ws/user"


@dataclass
class Client:
    """One WebSocket; records the latency of every stream event it receives."""

    user_id: str
    latencies: list[float] = field(default_factory=list)
    open: bool = False
    writer: asyncio.StreamWriter | None = None


async def hold(client: Client, port: int, token: str, stop: asyncio.Event) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    client.writer = writer
    ws = WSConnection(ConnectionType.CLIENT)
    writer.write(ws.send(Request(host=f"127.0.0.1:{port}", target=f"{PATH}?token={token}")))
    try:
        while not stop.is_set():
            data = await reader.read(65536)
            if not data:
                break
            ws.receive_data(data)
            for event in ws.events():
                if isinstance(event, AcceptConnection):
                    client.open = True
                elif isinstance(event, RejectConnection | CloseConnection):
                    return
                elif isinstance(event, Ping):
                    writer.write(ws.send(event.response()))
                elif isinstance(event, TextMessage):
                    payload = json.loads(event.data)
                    if "sent_at" in payload:
                        client.latencies.append(time.time() - payload["sent_at"])
    except (ConnectionError, OSError):
        pass
    finally:
        client.open = False
        writer.close()


def rss_kb(root_pid: int) -> int:
    """Resident memory of a process and all its descendants, in KiB."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(ppid, []).append(int(entry.name))
    total, pending = 0, [root_pid]
    while pending:
        pid = pending.pop()
        pending.extend(children.get(pid, []))
        try:
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
        except OSError:
            continue
    return total


def register(base: str) -> tuple[str, str]:
    email = f"bench-{uuid.uuid4().hex[:12]}@example.com"
    response = requests.post(f"{base}/api/v1/auth/register", timeout=30,
                             json={"email": email, "password": "bench-password-1", "name": "Bench"})
    response.raise_for_status()
    body = response.json()
    return body["user"]["id"], body["access_token"]


def publish_streams(bus: MongoEventBus, user_ids: list[str], rate: float, duration_s: float) -> int:
    """Publish `rate` events per second to every user for `duration_s`; returns the count."""
    sent, tick, started = 0, 1.0 / rate, time.monotonic()
    for seq in range(int(duration_s * rate)):
        for user_id in user_ids:
            try:
                bus.publish(f"user:{user_id}", {"type": "bench.tick", "seq": seq,
                                                "sent_at": time.time()})
                sent += 1
            except PyMongoError as error:  # the database, not the server under test, gave up
                print(f"publish failed: {type(error).__name__}", file=sys.stderr)
        delay = started + (seq + 1) * tick - time.monotonic()
        if delay > 0:
            time.sleep(delay)
    return sent


async def measure(port: int, streams: list[tuple[str, str]], idle_token: str, held: int,
                  bus: MongoEventBus, rate: float, duration_s: float, server_pid: int) -> dict:
    stop = asyncio.Event()
    stream_clients = [Client(user_id) for user_id, _ in streams]
    idle_clients = [Client("idle") for _ in range(max(0, held - len(streams)))]
    tokens = [token for _, token in streams] + [idle_token] * len(idle_clients)
    everyone = stream_clients + idle_clients
    tasks = []
    for i, (client, token) in enumerate(zip(everyone, tokens, strict=True)):
        tasks.append(asyncio.create_task(hold(client, port, token, stop)))
        if i % 50 == 49:
            await asyncio.sleep(0.2)  # a realistic arrival rate, not a SYN flood
    deadline = time.monotonic() + 60
    while sum(c.open for c in everyone) < held and time.monotonic() < deadline:
        await asyncio.sleep(0.5)
    await asyncio.sleep(3)  # every handler has subscribed
    rss_held = rss_kb(server_pid)
    opened = sum(c.open for c in everyone)

    sent = await asyncio.to_thread(publish_streams, bus, [c.user_id for c in stream_clients],
                                   rate, duration_s)
    await asyncio.sleep(2)  # the tail of the stream arrives
    still_open = sum(c.open for c in everyone)
    stop.set()
    for client in everyone:
        if client.writer:
            client.writer.close()
    await asyncio.gather(*tasks, return_exceptions=True)
    latencies = [value for client in stream_clients for value in client.latencies]
    return {"opened": opened, "still_open": still_open, "rss_held_kb": rss_held, "sent": sent,
            "delivered": len(latencies), "p50": percentile(latencies, 0.50),
            "p95": percentile(latencies, 0.95), "p99": percentile(latencies, 0.99),
            "max": max(latencies, default=float("nan")),
            "mean": statistics.fmean(latencies) if latencies else float("nan")}


def run_class(worker_class: str, levels: list[int], args, mongo_uri: str, workdir: Path) -> list[dict]:
    database = f"bench_{uuid.uuid4().hex[:8]}"
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = {"MONGODB_URI": mongo_uri, "MONGODB_DATABASE": database, "RATELIMIT_ENABLED": "false",
           "BCRYPT_ROUNDS": "4",
           "LOG_LEVEL": "WARNING", "WEB_CONCURRENCY": str(args.workers),
           "GUNICORN_MAX_REQUESTS": "0"}
    server = start_gunicorn(port, env, workdir / f"gunicorn-{worker_class}.log", "-k", worker_class)
    client = connect(mongo_uri)
    bus = MongoEventBus(client[database])
    rows = []
    try:
        wait_healthy(base, server)
        with ThreadPoolExecutor(4) as pool:
            users = list(pool.map(lambda _: register(base), range(args.streams + 1)))
        idle_token = users.pop()[1]
        for _ in range(20):  # warm every worker's code paths before the baseline
            requests.get(f"{base}/health", timeout=5)
        baseline_kb = rss_kb(server.pid)
        for held in levels:
            result = asyncio.run(measure(port, users, idle_token, held, bus, args.rate,
                                         args.duration, server.pid))
            growth = max(0, result["rss_held_kb"] - baseline_kb)
            rows.append({"class": worker_class, "target": held, "baseline_kb": baseline_kb,
                         "per_conn_kb": growth / max(1, result["opened"]), **result})
            print_row(rows[-1])
            time.sleep(3)  # the server notices the closed sockets before the next level
    finally:
        server.terminate()
        try:
            server.wait(timeout=args.graceful + 10)
        except subprocess.TimeoutExpired:
            server.kill()
        try:
            client.drop_database(database)
        except PyMongoError as error:
            print(f"could not drop {database}: {type(error).__name__}", file=sys.stderr)
        client.close()
    return rows


HEADER = ("| worker class | target | held | held at end | stream events | p50 ms | p95 ms "
          "| p99 ms | max ms | server RSS MiB | RSS per held conn KiB | load avg |")


def print_header(args) -> None:
    print(f"\n{args.workers} worker(s); {args.streams} streams x {args.rate:g} events/s for "
          f"{args.duration:g}s; latency = publish on the event bus -> received by the client\n")
    print(HEADER)
    print("|" + "---|" * (HEADER.count("|") - 1), flush=True)


def print_row(r: dict) -> None:
    load = os.getloadavg()[0]  # other work on the machine shows in the latencies
    print(f"| {r['class']} | {r['target']} | {r['opened']} | {r['still_open']} "
          f"| {r['delivered']}/{r['sent']} | {r['p50'] * 1000:.1f} | {r['p95'] * 1000:.1f} "
          f"| {r['p99'] * 1000:.1f} | {r['max'] * 1000:.1f} | {r['rss_held_kb'] / 1024:.0f} "
          f"| {r['per_conn_kb']:.0f} | {load:.1f} |", flush=True)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--classes", default="gthread,gevent")
    parser.add_argument("--held", default="100,1000", help="connection counts to hold, in order")
    parser.add_argument("--streams", type=int, default=100)
    parser.add_argument("--rate", type=float, default=5.0, help="events per second per stream")
    parser.add_argument("--duration", type=float, default=10.0, help="seconds of streaming")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--graceful", type=int, default=5)
    args = parser.parse_args(argv)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))  # cleanup (finally) runs on SIGTERM
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    os.environ["GUNICORN_GRACEFUL_TIMEOUT"] = str(args.graceful)
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    levels = [int(level) for level in args.held.split(",")]

    with tempfile.TemporaryDirectory(prefix="ws-capacity-") as tmp:
        workdir = Path(tmp)
        mongo = None
        mongo_uri = os.environ.get("MONGODB_URI", "")
        if not mongo_uri:
            mongo = EmbeddedMongo(workdir / "mongo", free_port())
            mongo_uri = mongo.ensure_running()
        print_header(args)
        try:
            for worker_class in args.classes.split(","):
                try:
                    run_class(worker_class, levels, args, mongo_uri, workdir)
                except (RuntimeError, TimeoutError) as error:
                    log = (workdir / f"gunicorn-{worker_class}.log").read_text()[-2000:]
                    print(f"{worker_class}: {error}\n{log}", file=sys.stderr)
        finally:
            if mongo:
                mongo.stop()


if __name__ == "__main__":
    main()
