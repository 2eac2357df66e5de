"""The request mix of bench/load.py (`python -m bench.load`, the long run) and of
tests/quality/test_load.py (a short one): gunicorn on loopback with the project's gunicorn.conf.py,
a private database of an embedded MongoDB, and the mock OpenAI-compatible provider (answering at
once). Each client thread is one user with one talk, and loops over the mix: log in, list talks,
send a message (the reply in the response), send a message with `stream: true` (SSE read to the
end). Rate limits are off: this measures the service, not the limiter.
"""
from __future__ import annotations

import random
import shutil
import statistics
import tempfile
import threading
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import requests

from adapters.embedded_mongo import EmbeddedMongo, free_port
from tests.support.gunicorn import Gunicorn, start_gunicorn
from tests.support.mock_provider import MockProvider
from tests.support.processes import stop

PASSWORD = "correct-horse-1"
MIX = (("login", 0.1), ("list_talks", 0.4), ("send_message", 0.3), ("stream_message", 0.2))


@dataclass
class Report:
    started: float = field(default_factory=time.monotonic)
    finished: float = 0.0
    latencies: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    statuses: Counter = field(default_factory=Counter)
    messages_sent: int = 0  # user messages the server acknowledged (201, or a stream's done)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def record(self, kind: str, status: int, seconds: float, sent: int = 0) -> None:
        with self.lock:
            self.latencies[kind].append(seconds)
            self.statuses[status] += 1
            self.messages_sent += sent

    @property
    def requests(self) -> int:
        return sum(self.statuses.values())

    @property
    def server_errors(self) -> int:
        return sum(count for status, count in self.statuses.items() if status >= 500)

    @property
    def failures(self) -> int:
        """Connection errors (status 0) and 5xx."""
        return self.statuses.get(0, 0) + self.server_errors

    def rps(self) -> float:
        return self.requests / max(self.finished - self.started, 1e-9)

    def lines(self) -> list[str]:
        every = [s for values in self.latencies.values() for s in values]
        out = [f"requests {self.requests} in {self.finished - self.started:.1f} s: "
               f"{self.rps():.1f} req/s",
               f"{'kind':<16}{'count':>8}{'p50 ms':>10}{'p95 ms':>10}{'p99 ms':>10}"]
        for kind, values in [*sorted(self.latencies.items()), ("all", every)]:
            p50, p95, p99 = percentiles(values)
            out.append(f"{kind:<16}{len(values):>8}{p50:>10.1f}{p95:>10.1f}{p99:>10.1f}")
        out.append("statuses " + ", ".join(f"{s}: {n}" for s, n in sorted(self.statuses.items())))
        return out


def percentiles(values: list[float]) -> tuple[float, float, float]:
    if len(values) < 2:
        only = values[0] * 1000 if values else 0.0
        return only, only, only
    cuts = statistics.quantiles(values, n=100, method="inclusive")
    return cuts[49] * 1000, cuts[94] * 1000, cuts[98] * 1000


class Client:
    """One user with one talk, looping over the mix."""

    def __init__(self, base: str, report: Report, seed: int):
        self.base, self.report = base, report
        self.http = requests.Session()
        self.random = random.Random(seed)
        self.email = f"load-{uuid.uuid4().hex[:12]}@example.com"
        body = self._json("POST", "/api/v1/auth/register",
                          json={"email": self.email, "password": PASSWORD, "name": "Load"})
        self.headers = {"Authorization": f"Bearer {body['access_token']}"}
        self.talk_id = self._json("POST", "/api/v1/talks", json={"name": "load"})["id"]
        self.warm_messages = 0

    def warm_up(self) -> None:
        """One exchange before measuring: each worker imports LiteLLM on its first model call."""
        self._json("POST", f"/api/v1/talks/{self.talk_id}/messages", json={"content": "warm"})
        self.warm_messages += 1

    def _json(self, method: str, path: str, **kwargs) -> dict:
        response = self.http.request(method, self.base + path, timeout=30,
                                     headers=getattr(self, "headers", {}), **kwargs)
        response.raise_for_status()
        return response.json()

    def step(self) -> None:
        kind = self.random.choices([k for k, _ in MIX], [w for _, w in MIX])[0]
        started = time.perf_counter()
        sent = 0
        try:
            status, sent = getattr(self, kind)()
        except requests.RequestException:
            status = 0
        self.report.record(kind, status, time.perf_counter() - started, sent)

    def login(self) -> tuple[int, int]:
        response = self.http.post(f"{self.base}/api/v1/auth/login", timeout=30,
                                  json={"email": self.email, "password": PASSWORD})
        if response.status_code == 200:
            self.headers = {"Authorization": f"Bearer {response.json()['access_token']}"}
        return response.status_code, 0

    def list_talks(self) -> tuple[int, int]:
        response = self.http.get(f"{self.base}/api/v1/talks?size=20", headers=self.headers,
                                 timeout=30)
        return response.status_code, 0

    def send_message(self) -> tuple[int, int]:
        response = self.http.post(f"{self.base}/api/v1/talks/{self.talk_id}/messages",
                                  headers=self.headers, timeout=30,
                                  json={"content": f"hello {uuid.uuid4().hex[:6]}"})
        return response.status_code, int(response.status_code == 201)

    def stream_message(self) -> tuple[int, int]:
        with self.http.post(f"{self.base}/api/v1/talks/{self.talk_id}/messages",
                            headers=self.headers, timeout=30, stream=True,
                            json={"content": "stream please", "stream": True}) as response:
            events = [line for line in response.iter_lines(decode_unicode=True)
                      if line.startswith("event:")]
        acknowledged = "event: user_message" in events
        ended = events[-1:] == ["event: done"]
        status = response.status_code if ended or response.status_code != 200 else 599
        return status, int(acknowledged)

    def stored_messages(self) -> int:
        """User messages stored in this client's talk (paging through the history)."""
        count, before = 0, None
        while True:
            query = f"?limit=100{'&before=' + before if before else ''}"
            page = self._json("GET", f"/api/v1/talks/{self.talk_id}/messages{query}")
            count += sum(1 for message in page["items"] if message["role"] == "user")
            if not page.get("has_more"):
                return count
            before = page["next_before"]


def run_mix(base: str, threads: int, duration_s: float | None = None,
            total_requests: int | None = None, on_progress=None) -> tuple[Report, list[Client]]:
    """Drive the mix with `threads` users for `duration_s` or until `total_requests`."""
    report = Report()
    clients = [Client(base, report, seed) for seed in range(threads)]
    warmers = [threading.Thread(target=client.warm_up, daemon=True) for client in clients]
    for warmer in warmers:
        warmer.start()
    for warmer in warmers:
        warmer.join()
    report.started = time.monotonic()
    deadline = report.started + duration_s if duration_s else None
    done = threading.Event()

    def loop(client: Client) -> None:
        while not done.is_set():
            client.step()
            if deadline and time.monotonic() >= deadline:
                done.set()
            if total_requests and report.requests >= total_requests:
                done.set()
            if on_progress:
                on_progress(report)

    workers = [threading.Thread(target=loop, args=(c,), daemon=True) for c in clients]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    report.finished = time.monotonic()
    return report, clients


def lost_messages(report: Report, clients: list[Client]) -> int:
    """Acknowledged user messages that are not stored (never negative: a stream cut before its
    acknowledgement may still have been stored)."""
    stored = sum(client.stored_messages() - client.warm_messages for client in clients)
    return max(0, report.messages_sent - stored)


@contextmanager
def service(workers: int, bcrypt_rounds: int = 4, extra_env: dict | None = None
            ) -> Iterator[Gunicorn]:
    """gunicorn + a private embedded MongoDB + the mock provider, all on loopback."""
    scratch = Path(tempfile.mkdtemp(prefix="synapscale-bench-"))
    mongo = EmbeddedMongo(scratch / "mongo", free_port())
    provider = MockProvider()
    models = provider.write_catalogue(scratch / "models.yaml", timeout=30.0)
    env = {"MONGODB_URI": mongo.ensure_running(), "MONGODB_DATABASE": "bench",
           "MODELS_CONFIG": str(models), "DEFAULT_MODEL": "openai/mock-primary",
           "RATELIMIT_ENABLED": "false", "BCRYPT_ROUNDS": str(bcrypt_rounds),
           "LOG_LEVEL": "WARNING", **(extra_env or {})}
    server = start_gunicorn(scratch, env, workers=workers)
    try:
        yield server
    finally:
        stop(server.process)
        provider.close()
        mongo.stop()
        shutil.rmtree(scratch, ignore_errors=True)
