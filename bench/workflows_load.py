"""60 concurrent workflow executions against a real gunicorn server.

    python -m bench.workflows_load [--runs 60] [--rounds 3] [--workers 2]
    python -m bench.workflows_load --isolation [--executions 200]

gunicorn starts with the project's gunicorn.conf.py on a private database of an embedded
MongoDB, its models pointed at the mock OpenAI-compatible provider of tests/support (answering
at once: 0 ms per token). One user creates an `input -> llm -> output` workflow; then each round
fires `--runs` executions at the same moment, each `POST /workflows/{id}/execute` with
`wait: true`, so the request's duration is the time from execute to finished. The table shows,
per round, how many succeeded, p50 / p95 / max of that time, and runs per second (runs / time
from the first request to the last answer).

`--isolation` measures instead what the process sandbox adds per node (bench/sandbox_cost.py).
"""
from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import tempfile
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import requests

from adapters.embedded_mongo import EmbeddedMongo, free_port
from bench.common import percentile, start_gunicorn, wait_healthy
from bench.sandbox_cost import print_isolation_table
from tests.support.mock_provider import PRIMARY, MockProvider

ROOT = Path(__file__).resolve().parents[1]
WARM_ROUNDS = 2
WORKFLOW = {
    "name": "Bench: ask the model",
    "nodes": [
        {"id": "start", "type": "input", "config": {"fields": [
            {"name": "question", "type": "string", "required": True}]}},
        {"id": "ask", "type": "llm", "config": {"model": f"openai/{PRIMARY}",
                                                "prompt": "{{ question }}"}},
        {"id": "done", "type": "output", "config": {"outputs": {"answer": "{{ ask.output }}"}}},
    ],
    "edges": [{"source": "start", "target": "ask"}, {"source": "ask", "target": "done"}],
}


class Bench:
    def __init__(self, base: str, runs: int):
        self.base = base
        self.runs = runs
        email = f"bench-{uuid.uuid4().hex[:8]}@example.com"
        body = requests.post(f"{base}/api/v1/auth/register", timeout=30, json={
            "email": email, "password": "bench-password-1", "name": "Bench"}).json()
        self.headers = {"Authorization": f"Bearer {body['access_token']}"}
        created = requests.post(f"{base}/api/v1/workflows", json=WORKFLOW, headers=self.headers,
                                timeout=30)
        created.raise_for_status()
        self.execute_url = f"{base}/api/v1/workflows/{created.json()['id']}/execute"

    def one(self, index: int, start: threading.Event) -> tuple[float, str]:
        start.wait()
        began = time.perf_counter()
        response = requests.post(self.execute_url, headers=self.headers, timeout=120,
                                 json={"inputs": {"question": f"question {index}"}, "wait": True})
        elapsed = time.perf_counter() - began
        status = response.json().get("status") if response.status_code in (200, 202) else \
            f"HTTP {response.status_code}"
        return elapsed, status

    def round(self, pool: ThreadPoolExecutor) -> dict:
        start = threading.Event()
        futures = [pool.submit(self.one, i, start) for i in range(self.runs)]
        time.sleep(0.2)  # every thread waiting at the start line
        began = time.perf_counter()
        start.set()
        results = [future.result() for future in futures]
        wall = time.perf_counter() - began
        times = [elapsed for elapsed, _ in results]
        return {"ok": sum(1 for _, status in results if status == "succeeded"),
                "statuses": sorted({status for _, status in results}),
                "p50": statistics.median(times), "p95": percentile(times, 0.95),
                "max": max(times), "wall": wall, "rate": self.runs / wall}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=60)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--runner-threads", type=int, default=64,
                        help="WORKFLOW_RUNNER_THREADS of each gunicorn worker")
    parser.add_argument("--isolation", action="store_true",
                        help="compare sandboxed and in-process node evaluation instead")
    parser.add_argument("--executions", type=int, default=200, help="with --isolation")
    args = parser.parse_args()
    if args.isolation:
        print_isolation_table(args.executions)
        return

    workdir = Path(tempfile.mkdtemp(prefix="bench-workflows-"))
    provider = MockProvider()
    catalogue = provider.write_catalogue(workdir / "models.yaml", timeout=30, num_retries=0)
    mongo = EmbeddedMongo(workdir / "mongo", free_port())
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = {"MONGODB_URI": mongo.ensure_running(), "MONGODB_DATABASE": "bench_workflows",
           "MODELS_CONFIG": str(catalogue), "DEFAULT_MODEL": f"openai/{PRIMARY}",
           "LOG_LEVEL": os.environ.get("BENCH_LOG_LEVEL", "WARNING"), "LITELLM_LOCAL_MODEL_COST_MAP": "True",
           "RATELIMIT_DEFAULT": "100000 per minute", "RATELIMIT_LLM": "100000 per minute",
           "RATELIMIT_AUTH": "1000 per minute",
           "WORKFLOW_RUNNER_THREADS": str(args.runner_threads)}
    server = start_gunicorn(port, env, workdir / "gunicorn.log", "-w", str(args.workers))
    try:
        wait_healthy(base, server)
        bench = Bench(base, args.runs)
        with ThreadPoolExecutor(args.runs) as pool:
            for _ in range(WARM_ROUNDS):  # loads LiteLLM in every worker, fills pools
                bench.round(pool)
            rows = [bench.round(pool) for _ in range(args.rounds)]
    finally:
        server.terminate()
        try:
            server.wait(30)
        except subprocess.TimeoutExpired:
            server.kill()
        mongo.stop()
        provider.close()
    shutil.rmtree(workdir, ignore_errors=True)  # kept (with gunicorn.log) when the bench failed

    print(f"\n{args.runs} concurrent executions of input -> llm (mock, 0 ms) -> output, "
          f"`wait: true`; gunicorn {args.workers} workers x {args.runner_threads} runner "
          f"threads, embedded MongoDB, {os.cpu_count()} CPUs, load average "
          f"{os.getloadavg()[0]:.1f}\n")
    header = f"{'round':>5} | {'succeeded':>9} | {'p50 s':>6} | {'p95 s':>6} | {'max s':>6} | " \
             f"{'wall s':>6} | {'runs/s':>6}"
    print(header)
    print("-" * len(header))
    for number, row in enumerate(rows, 1):
        print(f"{number:>5} | {row['ok']:>6}/{args.runs:<2} | {row['p50']:>6.3f} | "
              f"{row['p95']:>6.3f} | {row['max']:>6.3f} | {row['wall']:>6.2f} | "
              f"{row['rate']:>6.1f}")
        if row["ok"] != args.runs:
            print(f"      statuses seen: {', '.join(row['statuses'])}")


if __name__ == "__main__":
    main()
