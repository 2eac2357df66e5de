"""Importing a big ChatGPT export: conversations per second, and the server's memory meanwhile.

    python -m bench.talks_import [--sizes 20,200] [--message-bytes 1500]

For each size (MiB) a synthetic ChatGPT `conversations.json` is written to disk (a list of
conversations, each a `mapping` tree of 10 exchanges with one regenerated reply, messages of
about `--message-bytes` characters), then a fresh gunicorn (the project's gunicorn.conf.py, one
gthread worker) on an embedded MongoDB receives it through POST /api/v1/talks/import, streamed
from disk with an honest Content-Length, and the status is polled until the job ends. RSS of the
server (master + worker, from /proc, sampled every 10 ms; the embedded MongoDB is another
process and not counted) is reported as the peak above the idle server's, during the upload and
during the background import. Flat memory means the 200 MiB row grows about as much as the
20 MiB one, and well under 100 MiB. The embedded development database bounds the rate: a real
MongoDB stores faster.
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
import uuid
from pathlib import Path

import requests

from adapters.embedded_mongo import EmbeddedMongo, free_port
from bench.common import start_gunicorn, stream_upload, wait_healthy
from bench.files_throughput import PeakRss
from bench.ws_capacity import register, rss_kb

MIB = 1024 * 1024
EXCHANGES = 10
WORDS = ("alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel", "india")


def _text(seed: int, size: int) -> str:
    words, n = [], seed
    while sum(len(w) + 1 for w in words) < size:
        n = (n * 1103515245 + 12345) & 0x7FFFFFFF
        words.append(WORDS[n % len(WORDS)])
    return " ".join(words)


def conversation(n: int, message_bytes: int) -> dict:
    """A ChatGPT conversation: root, then EXCHANGES user/assistant pairs, the last reply
    regenerated once (a branch); current_node the regenerated one."""
    base = 1_700_000_000 + n * 100
    mapping = {"root": {"id": "root", "message": None, "parent": None, "children": []}}
    parent, t = "root", 0

    def add(node_id: str, role: str, text: str) -> None:
        nonlocal t
        t += 1
        mapping[node_id] = {"id": node_id, "parent": parent, "children": [], "message": {
            "id": node_id, "author": {"role": role, "name": None, "metadata": {}},
            "create_time": base + t, "update_time": None,
            "content": {"content_type": "text", "parts": [text]},
            "status": "finished_successfully", "end_turn": True, "weight": 1.0,
            "metadata": {"model_slug": "gpt-4o"} if role == "assistant" else {},
            "recipient": "all"}}
        mapping[parent]["children"].append(node_id)

    for turn in range(EXCHANGES):
        add(f"{n}-u{turn}", "user", _text(n * 31 + turn, message_bytes // 4))
        parent = f"{n}-u{turn}"
        add(f"{n}-a{turn}", "assistant", _text(n * 17 + turn, message_bytes))
        if turn < EXCHANGES - 1:
            parent = f"{n}-a{turn}"
    add(f"{n}-a-regen", "assistant", _text(n * 7, message_bytes))
    return {"title": f"Synthetic talk {n}", "create_time": base, "update_time": base + t,
            "mapping": mapping, "current_node": f"{n}-a-regen", "conversation_id": f"bench-{n}",
            "id": f"bench-{n}", "default_model_slug": "gpt-4o", "moderation_results": []}


def write_export(path: Path, size_mib: int, message_bytes: int) -> int:
    """Writes conversations until the file reaches `size_mib`; their count."""
    target, count = size_mib * MIB, 0
    with path.open("w") as out:
        out.write("[")
        while out.tell() < target:
            out.write(("," if count else "") + json.dumps(conversation(count, message_bytes)))
            count += 1
        out.write("]")
    return count


def upload(port: int, token: str, path: Path) -> str:
    return stream_upload(port, token, "/api/v1/talks/import", path, "conversations.json",
                         "application/json", 202)["import_id"]


def wait_done(base: str, token: str, import_id: str) -> dict:
    while True:
        response = requests.get(f"{base}/api/v1/imports/{import_id}?items=none", timeout=60,
                                headers={"Authorization": f"Bearer {token}"})
        response.raise_for_status()
        status = response.json()
        if status["status"] != "running":
            return status
        time.sleep(1.0)


def measure(size_mib: int, message_bytes: int, mongo_uri: str, workdir: Path) -> dict:
    path = workdir / f"export-{size_mib}.json"
    conversations = write_export(path, size_mib, message_bytes)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = {"MONGODB_URI": mongo_uri, "PUBLIC_BASE_URL": base,
           "MONGODB_DATABASE": f"bench_import_{uuid.uuid4().hex[:8]}",
           "IMPORT_MAX_BYTES": str((size_mib + 64) * MIB), "WEB_CONCURRENCY": "1",
           "RATELIMIT_ENABLED": "false", "LOG_LEVEL": "WARNING", "BCRYPT_ROUNDS": "4",
           "LOCAL_MODEL_ENABLED": "false",
           "JWT_ACCESS_TOKEN_EXPIRES": "14400"}  # a big import on the embedded database is slow
    server = start_gunicorn(port, env, workdir / f"gunicorn-{size_mib}.log", "-k", "gthread")
    try:
        wait_healthy(base, server)
        _, token = register(base)
        warm = workdir / "warm.json"
        warm.write_text(json.dumps([conversation(10**6, 100)]))
        wait_done(base, token, upload(port, token, warm))  # every code path loaded once
        idle_kb = rss_kb(server.pid)
        with PeakRss(server.pid) as upload_rss:
            started = time.perf_counter()
            import_id = upload(port, token, path)
            upload_s = time.perf_counter() - started
        with PeakRss(server.pid) as import_rss:
            status = wait_done(base, token, import_id)
            import_s = time.perf_counter() - started
        if status["status"] != "succeeded" or status["imported"] != conversations:
            raise RuntimeError(f"import ended {status['status']}: {status.get('error')}, "
                               f"{status['imported']}/{conversations} imported")
        return {"size_mib": path.stat().st_size / MIB, "conversations": conversations,
                "messages": conversations * (2 * EXCHANGES + 1), "upload_s": upload_s,
                "total_s": import_s, "idle_mib": idle_kb / 1024,
                "upload_growth_mib": (upload_rss.peak_kb - idle_kb) / 1024,
                "import_growth_mib": (import_rss.peak_kb - idle_kb) / 1024}
    finally:
        server.terminate()
        server.wait(30)
        path.unlink(missing_ok=True)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="20,200", help="export sizes in MiB (default 20,200)")
    parser.add_argument("--message-bytes", type=int, default=1500,
                        help="characters per assistant message (user messages: a quarter)")
    args = parser.parse_args(argv)
    sizes = [int(size) for size in args.sizes.split(",")]
    with tempfile.TemporaryDirectory(prefix="bench-import-") as tmp:
        workdir = Path(tmp)
        mongo = EmbeddedMongo(workdir / "mongo", free_port())
        mongo_uri = mongo.ensure_running()
        try:
            results = [measure(size, args.message_bytes, mongo_uri, workdir) for size in sizes]
        finally:
            mongo.stop()
    print("\nOne gunicorn gthread worker, embedded MongoDB; RSS = master + worker, peak minus "
          "the idle server's; time from the upload's first byte to the job's end.")
    print("| export MiB | conversations | messages | upload s | total s | conversations/s "
          "| messages/s | idle RSS MiB | RSS growth upload MiB | RSS growth import MiB |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for r in results:
        print(f"| {r['size_mib']:.0f} | {r['conversations']} | {r['messages']} "
              f"| {r['upload_s']:.1f} | {r['total_s']:.1f} "
              f"| {r['conversations'] / r['total_s']:.0f} | {r['messages'] / r['total_s']:.0f} "
              f"| {r['idle_mib']:.0f} | {r['upload_growth_mib']:+.1f} "
              f"| {r['import_growth_mib']:+.1f} |")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
