"""The local model before and after it moved into its own process, side by side in one run.

    python -m bench.local_model [--baseline 39b311c] [--messages 5]

For each tree (the baseline commit, checked out into a temporary git worktree, and this one),
starts gunicorn with 2 workers on a fresh embedded MongoDB and no provider key, so every reply
comes from local/smollm2, and measures:
- start-up: seconds from launching gunicorn to /health answering, and to the first streamed delta
  of the first message (the model's load included, wherever it happens);
- time to first token of a warm model: median and max over `--messages` streamed talk messages,
  from sending the POST to the first `delta` event;
- memory: RSS of gunicorn's master, its workers and the model server (the database excluded: the
  same in both), after every worker has served local-model replies.
"""
from __future__ import annotations

import argparse
import concurrent.futures
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import requests

from adapters.embedded_mongo import free_port
from bench.common import ROOT, start_gunicorn, wait_healthy
from tests.support.gunicorn import descendants

PROVIDER_VARIABLES = ("MONGODB_URI", "LOCAL_MODEL_URL", "OPENAI_API_KEY", "ANTHROPIC_API_KEY",
                      "GOOGLE_API_KEY", "OLLAMA_API_BASE", "MODELS_CONFIG", "DEFAULT_MODEL")


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def command_line(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


class Client:
    def __init__(self, base: str):
        self.base = base
        email = f"bench-{uuid.uuid4().hex[:8]}@example.com"
        body = requests.post(f"{base}/api/v1/auth/register", timeout=30, json={
            "email": email, "password": "correct-horse-1", "name": "Bench"}).json()
        self.headers = {"Authorization": f"Bearer {body['access_token']}"}

    def first_delta_s(self, content: str) -> float:
        """Seconds from sending a streamed message to its first delta; the reply is read whole."""
        talk = requests.post(f"{self.base}/api/v1/talks", json={}, headers=self.headers, timeout=30).json()
        started = time.perf_counter()
        first = None
        with requests.post(f"{self.base}/api/v1/talks/{talk['id']}/messages", stream=True,
                           headers=self.headers, timeout=300,
                           json={"content": content, "stream": True, "max_tokens": 32}) as response:
            for line in response.iter_lines(decode_unicode=True):
                if first is None and line == "event: delta":
                    first = time.perf_counter() - started
                if line == "event: error":
                    raise RuntimeError("the reply failed")
        if first is None:
            raise RuntimeError("the reply had no delta")
        return first


def measure(tree: Path, messages: int) -> dict:
    work = Path(tempfile.mkdtemp(prefix="bench-local-model-"))
    port = free_port()
    env = {key: value for key, value in os.environ.items() if key not in PROVIDER_VARIABLES}
    env.update({"EMBEDDED_MONGO_PATH": str(work / "mongo"), "EMBEDDED_MONGO_PORT": str(free_port()),
                "LOCAL_MODEL_PATH": str(work / "local-model"), "LOCAL_MODEL_PORT": str(free_port()),
                "WEB_CONCURRENCY": "2", "LOG_LEVEL": "WARNING", "RATELIMIT_ENABLED": "false",
                "HOST": "127.0.0.1"})
    base = f"http://127.0.0.1:{port}"
    started = time.perf_counter()
    process = start_gunicorn_in(tree, port, env, work / "gunicorn.log")
    try:
        wait_healthy(base, process)
        ready_s = time.perf_counter() - started
        client = Client(base)
        while True:  # the model may still be loading: the first message that streams counts
            try:
                client.first_delta_s("Say hello.")
                break
            except (RuntimeError, requests.RequestException):
                time.sleep(0.2)
        first_answer_s = time.perf_counter() - started
        with concurrent.futures.ThreadPoolExecutor(4) as pool:  # every worker serves the model
            list(pool.map(lambda _: client.first_delta_s("Name a colour."), range(8)))
        ttft = [client.first_delta_s("What is the capital of France?") for _ in range(messages)]
        family = descendants(process.pid)
        mongo = {pid for pid in family if "secantus" in command_line(pid)}
        mongo |= {pid for parent in mongo for pid in descendants(parent)}
        counted = [process.pid, *[pid for pid in family if pid not in mongo]]
        return {"ready_s": ready_s, "first_answer_s": first_answer_s,
                "ttft_p50_ms": statistics.median(ttft) * 1000, "ttft_max_ms": max(ttft) * 1000,
                "rss_mib": sum(rss_mib(pid) for pid in counted), "processes": len(counted)}
    finally:
        process.terminate()
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            process.kill()
        shutil.rmtree(work, ignore_errors=True)


def start_gunicorn_in(tree: Path, port: int, env: dict, log: Path) -> subprocess.Popen:
    if tree == ROOT:
        return start_gunicorn(port, env, log)
    command = [sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py", "app:create_app()"]
    return subprocess.Popen(command, cwd=tree, env={**env, "PORT": str(port)}, stdout=log.open("ab"),
                            stderr=subprocess.STDOUT, start_new_session=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--baseline", default="39b311c", help="commit with the in-process model")
    parser.add_argument("--messages", type=int, default=5)
    arguments = parser.parse_args()
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    worktree = Path(tempfile.mkdtemp(prefix="bench-baseline-")) / "tree"
    subprocess.run(["git", "worktree", "add", "--detach", str(worktree), arguments.baseline],
                   cwd=ROOT, check=True, capture_output=True)
    try:
        rows = [(f"before ({arguments.baseline}, in each worker)", measure(worktree, arguments.messages)),
                ("after (one server per host)", measure(ROOT, arguments.messages))]
    finally:
        subprocess.run(["git", "worktree", "remove", "--force", str(worktree)], cwd=ROOT, check=False)
    load = os.getloadavg()[0]
    print(f"\nlocal/smollm2 under gunicorn, 2 workers; load average {load:.1f} at the end\n")
    print("| tree | ready s | first answer s | warm TTFT p50 ms | warm TTFT max ms | RSS MiB "
          "(master + workers + model server) | processes |")
    print("|---|---|---|---|---|---|---|")
    for name, row in rows:
        print(f"| {name} | {row['ready_s']:.1f} | {row['first_answer_s']:.1f} | {row['ttft_p50_ms']:.0f} "
              f"| {row['ttft_max_ms']:.0f} | {row['rss_mib']:.0f} | {row['processes']} |")


if __name__ == "__main__":
    main()
