"""Latency and throughput SynapScale's /v1/chat/completions adds over calling a provider directly,
next to the LiteLLM proxy doing the same job.

    python -m bench.gateway_overhead [--levels 1,20,100] [--duration 6] [--latency 0.05]
                                     [--baseline <git ref>] [--provider-http]

One mock OpenAI-compatible provider (tests/support/mock_provider.py, in its own process) answers
every call after a fixed delay (50 ms; for streams, before the first token), over HTTPS like a
real provider (a self-signed certificate the servers trust; `--provider-http` for plain HTTP:
a gateway that opens a connection per call pays a TLS handshake each time). It is called
(a) directly, (b) through SynapScale's /v1/chat/completions under gunicorn (the project's
gunicorn.conf.py, a workspace API key, rate limits on with a limit nobody reaches, a workspace
budget nobody reaches, so every call holds and settles its reservation and writes its usage),
(b0) with `--baseline`, the same through SynapScale at another commit (checked out into a
temporary git worktree), and (c) through the LiteLLM proxy (`litellm` CLI of the `litellm[proxy]` extra, an
equivalent config: the same model entry, a master key, no database; `--run_gunicorn`, its
recommended way to run several workers), each server with the same number of workers and its
default logging, at each concurrency level, non-streamed and streamed. The latency is the
full response (to `[DONE]` for streams) as the client sees it; "added" is the difference from (a)
at the same percentile. "CPU ms/call" is the CPU time the target's processes (and their children;
for SynapScale its embedded database too) used during the cell, divided by the calls it answered:
what one call costs, whatever the machine's load.

The proxy runs from its own virtualenv so its dependencies cannot disturb the project's pins:
LITELLM_PROXY_VENV (default /tmp/litellm-proxy-venv), created with the project's litellm version
when missing. MongoDB is MONGODB_URI, else an embedded server started for the run.
"""
from __future__ import annotations

import argparse
import asyncio
import ipaddress
import os
import re
import shutil
import ssl
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import aiohttp
import requests
import yaml

from adapters.embedded_mongo import EmbeddedMongo, free_port

ROOT = Path(__file__).resolve().parents[1]
MODEL = "mock-primary"
SYNAPSCALE_MODEL = f"openai/{MODEL}"
PROXY_KEY = "sk-bench-master-key"
PROMPT = [{"role": "user", "content": "Say hello to the benchmark in a few words"}]
DEFAULT_VENV = "/tmp/litellm-proxy-venv"


@dataclass
class Target:
    name: str
    url: str  # the chat/completions endpoint
    model: str
    headers: dict
    processes: tuple[int, ...] = ()  # what serves it (with their children): CPU counted per call


def cpu_seconds(roots: tuple[int, ...]) -> float:
    """User + system CPU time of these processes and all their descendants (Linux /proc)."""
    total, pending, seen = 0.0, list(roots), set()
    while pending:
        pid = pending.pop()
        if pid in seen:
            continue
        seen.add(pid)
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
            for task in Path(f"/proc/{pid}/task").iterdir():
                pending += [int(child) for child in (task / "children").read_text().split()]
        except (FileNotFoundError, ProcessLookupError):
            continue
    return total


@dataclass
class Result:
    target: str
    stream: bool
    concurrency: int
    latencies: list[float]
    errors: Counter
    seconds: float
    cpu_ms_per_call: float = float("nan")  # the target's processes, over every call of the cell

    @property
    def rps(self) -> float:
        return len(self.latencies) / self.seconds if self.seconds else 0.0

    def percentile(self, fraction: float) -> float:
        if not self.latencies:
            return float("nan")
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


# --- the mock provider, in a process of its own ---------------------------------------------------

def serve_mock(port_file: str, latency: float, tls: str = "") -> None:
    """`tls`: the directory of provider.pem/provider-key.pem, to answer over HTTPS."""
    from tests.support.mock_provider import MockProvider

    class QuietProvider(MockProvider):
        def _record(self, body, headers):  # nothing kept: a benchmark sends many thousands
            return self._behaviours.get(None), True

    provider = QuietProvider()
    handler = provider._server.RequestHandlerClass
    # headers and body leave in separate writes: without TCP_NODELAY, Nagle's algorithm and
    # delayed ACKs add ~40 ms to every keep-alive answer, on every path alike
    provider._server.RequestHandlerClass = type("NoDelayHandler", (handler,),
                                                {"disable_nagle_algorithm": True})
    provider._server.socket.listen(1024)  # socketserver's backlog of 5 drops connection bursts
    if tls:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(Path(tls) / "provider.pem", Path(tls) / "provider-key.pem")
        provider._server.socket = context.wrap_socket(provider._server.socket, server_side=True)
    provider.behave(None, hang=latency, reply="Hello benchmark, nice to meet you today")
    Path(port_file).write_text(str(provider.port))
    threading.Event().wait()


def start_mock(workdir: Path, latency: float, tls: bool = False) -> tuple[subprocess.Popen, int]:
    """The mock provider's process and port; with `tls`, it answers over HTTPS with the
    certificate of `provider_certificate(workdir)`."""
    port_file = workdir / "mock.port"
    process = subprocess.Popen(
        [sys.executable, "-m", "bench.gateway_overhead", "--serve-mock", str(port_file),
         "--latency", str(latency), *(["--tls-dir", str(workdir)] if tls else [])],
        cwd=ROOT, start_new_session=True)
    deadline = time.monotonic() + 30
    while not port_file.exists() or not port_file.read_text():
        if process.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError("the mock provider did not start")
        time.sleep(0.05)
    return process, int(port_file.read_text())


def provider_certificate(workdir: Path) -> Path:
    """A self-signed certificate (and key) for 127.0.0.1 in `workdir`: its path, which the
    servers and the direct client trust (SSL_CERT_FILE, read by LiteLLM and by httpx)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.now(UTC)
    certificate = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name)
        .public_key(key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5)).not_valid_after(now + timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address(
            "127.0.0.1"))]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256()))
    path = workdir / "provider.pem"
    path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    (workdir / "provider-key.pem").write_bytes(key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption()))
    return path


def write_catalogue(path: Path, mock_port: int, scheme: str = "http") -> Path:
    """One model, LiteLLM proxy format: SynapScale's MODELS_CONFIG and the proxy's --config."""
    path.write_text(yaml.safe_dump({
        "model_list": [{
            "model_name": SYNAPSCALE_MODEL,
            "litellm_params": {"model": f"openai/{MODEL}",
                               "api_base": f"{scheme}://127.0.0.1:{mock_port}/v1",
                               "api_key": "mock", "input_cost_per_token": 1e-6,
                               "output_cost_per_token": 2e-6},
        }],
        "router_settings": {"num_retries": 0, "timeout": 30},
        "litellm_settings": {"num_retries": 0, "request_timeout": 30, "telemetry": False},
        "general_settings": {"master_key": PROXY_KEY},
    }, sort_keys=False))
    return path


# --- SynapScale under gunicorn ---------------------------------------------------------------------

def start_synapscale(workdir: Path, port: int, mongo_uri: str, catalogue: Path,
                     workers: int, tree: Path = ROOT) -> tuple[subprocess.Popen, str]:
    env = {**os.environ, "PORT": str(port), "HOST": "127.0.0.1", "MONGODB_URI": mongo_uri,
           "MONGODB_DATABASE": f"bench_{uuid.uuid4().hex[:8]}", "MODELS_CONFIG": str(catalogue),
           "DEFAULT_MODEL": SYNAPSCALE_MODEL, "WEB_CONCURRENCY": str(workers),
           "RATELIMIT_DEFAULT": "1000000 per minute",
           "RATELIMIT_LLM": "1000000 per minute", "GUNICORN_MAX_REQUESTS": "0",
           "GUNICORN_GRACEFUL_TIMEOUT": "5", "LITELLM_LOCAL_MODEL_COST_MAP": "True"}
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)  # gunicorn.conf.py makes a fresh one
    log = (workdir / f"synapscale-{port}.log").open("ab")
    process = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py", "app:create_app()"],
        cwd=tree, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    wait_until_up(f"{base}/health", process)
    email = f"bench-{uuid.uuid4().hex[:10]}@example.com"
    session = requests.post(f"{base}/api/v1/auth/register", timeout=30, json={
        "email": email, "password": "correct-horse-1", "name": "Bench"}).json()
    headers = {"Authorization": f"Bearer {session['access_token']}"}
    workspace = requests.get(f"{base}/api/v1/workspaces", headers=headers, timeout=30).json()
    workspace_id = workspace["items"][0]["id"]
    requests.patch(f"{base}/api/v1/workspaces/{workspace_id}", headers=headers, timeout=30,
                   json={"settings": {"monthly_budget_usd": 1_000_000}}).raise_for_status()
    key = requests.post(f"{base}/api/v1/workspaces/{workspace_id}/api-keys",
                        headers=headers, json={"name": "bench"}, timeout=30).json()["key"]
    return process, key


# --- the LiteLLM proxy -----------------------------------------------------------------------------

def pinned_litellm() -> str:
    text = (ROOT / "requirements.txt").read_text()
    match = re.search(r"^litellm==([\w.]+)", text, re.MULTILINE)
    return match.group(1) if match else ""


def ensure_proxy_venv(venv: Path) -> Path:
    litellm = venv / "bin" / "litellm"
    if litellm.exists():
        return litellm
    print(f"creating {venv} with litellm[proxy]=={pinned_litellm()} (one time)...", file=sys.stderr)
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    subprocess.run([str(venv / "bin" / "pip"), "install", "--quiet",
                    f"litellm[proxy]=={pinned_litellm()}"], check=True)
    return litellm


def start_proxy(workdir: Path, litellm: Path, port: int, catalogue: Path,
                workers: int) -> subprocess.Popen:
    env = {**os.environ, "LITELLM_LOCAL_MODEL_COST_MAP": "True", "LITELLM_TELEMETRY": "False"}
    env.pop("DATABASE_URL", None)
    log = (workdir / "litellm-proxy.log").open("ab")
    process = subprocess.Popen(
        [str(litellm), "--config", str(catalogue), "--host", "127.0.0.1", "--port", str(port),
         "--num_workers", str(workers), "--run_gunicorn"],
        cwd=workdir, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    wait_until_up(f"http://127.0.0.1:{port}/health/liveliness", process, timeout_s=180)
    return process


def wait_until_up(url: str, process: subprocess.Popen, timeout_s: float = 90) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{url}: the server exited with {process.returncode}")
        try:
            if requests.get(url, timeout=2).status_code == 200:
                return
        except requests.RequestException:
            pass
        time.sleep(0.3)
    raise TimeoutError(f"{url} did not come up")


def stop(process: subprocess.Popen | None) -> None:
    if process is None or process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(20)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


# --- load ------------------------------------------------------------------------------------------

async def one_call(session: aiohttp.ClientSession, target: Target, stream: bool) -> str | None:
    """None when the call was answered in full, else what went wrong."""
    body = {"model": target.model, "messages": PROMPT, "max_tokens": 64}
    if stream:
        body["stream"] = True
    async with session.post(target.url, json=body, headers=target.headers) as response:
        if response.status != 200:
            await response.read()
            return f"HTTP {response.status}"
        if not stream:
            payload = await response.json(content_type=None)
            return None if payload.get("choices") else "no choices"
        async for line in response.content:
            if line.startswith(b"data: [DONE]"):
                return None
            if line.startswith(b'data: {"error"'):
                return "error event"
        return "stream cut"


async def load(target: Target, stream: bool, concurrency: int, duration: float,
               warmup: float) -> Result:
    # aiohttp trusts certifi's roots, not SSL_CERT_FILE: the mock's certificate is given here
    cafile = os.environ.get("SSL_CERT_FILE") if target.url.startswith("https") else None
    connector = aiohttp.TCPConnector(limit=concurrency, force_close=False,
                                     ssl=ssl.create_default_context(cafile=cafile) if cafile else True)
    timeout = aiohttp.ClientTimeout(total=60)
    latencies: list[float] = []
    errors: Counter = Counter()
    calls = 0
    cpu_before = cpu_seconds(target.processes)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
        started = time.perf_counter()
        measure_from = started + warmup
        stop_at = measure_from + duration
        last_end = measure_from

        async def client() -> None:
            """Calls back to back until `stop_at`, and at least once after the warm-up, so a
            target slower than the cell still gets measured (and the cell lasts longer)."""
            nonlocal last_end, calls
            measured = 0
            while (now := time.perf_counter()) < stop_at or not measured:
                try:
                    failure = await one_call(session, target, stream)
                except (TimeoutError, aiohttp.ClientError) as error:
                    failure = type(error).__name__
                calls += 1
                if now >= measure_from:
                    measured += 1
                    last_end = max(last_end, time.perf_counter())
                    if failure is None:
                        latencies.append(time.perf_counter() - now)
                    else:
                        errors[failure] += 1

        await asyncio.gather(*(client() for _ in range(concurrency)))
    cpu_ms = (cpu_seconds(target.processes) - cpu_before) * 1000 / max(calls, 1)
    return Result(target.name, stream, concurrency, latencies, errors, last_end - measure_from,
                  cpu_ms if target.processes else float("nan"))


def measure(targets: list[Target], levels: list[int], duration: float, warmup: float) -> list[Result]:
    results = []
    for stream in (False, True):
        for concurrency in levels:
            for target in targets:
                result = asyncio.run(load(target, stream, concurrency, duration, warmup))
                print(f"  {target.name:<12} {'stream' if stream else 'plain ':<6} "
                      f"c={concurrency:<4} {result.rps:7.1f} req/s  p50 "
                      f"{result.percentile(0.5) * 1000:6.1f} ms  errors {dict(result.errors)}",
                      file=sys.stderr)
                results.append(result)
    return results


def print_table(results: list[Result], args) -> None:
    print(f"\nload average {os.getloadavg()[0]:.1f} at the end of the run")
    print(f"\nmock provider latency {args.latency * 1000:.0f} ms over "
          f"{'HTTP' if args.provider_http else 'HTTPS'}; {args.workers} worker(s) per "
          f"server; {args.duration:g} s per cell after {args.warmup:g} s warm-up; latency = "
          "full response as the client sees it; added = minus (a) direct at the same percentile\n")
    header = ("| mode | clients | path | req/s | p50 ms | p95 ms | p99 ms | added p50 | "
              "added p95 | added p99 | CPU ms/call | errors |")
    print(header)
    print("|" + "---|" * (header.count("|") - 1))
    direct = {(r.stream, r.concurrency): r for r in results if r.target == "(a) direct"}
    for r in results:
        base = direct[(r.stream, r.concurrency)]
        cells = [r.percentile(p) * 1000 for p in (0.5, 0.95, 0.99)]
        if r is base:
            added = ["", "", ""]
        else:
            added = [f"{(r.percentile(p) - base.percentile(p)) * 1000:+.1f}" for p in (0.5, 0.95, 0.99)]
        print(f"| {'stream' if r.stream else 'plain'} | {r.concurrency} | {r.target} | "
              f"{r.rps:.1f} | {cells[0]:.1f} | {cells[1]:.1f} | {cells[2]:.1f} | "
              f"{added[0]} | {added[1]} | {added[2]} | {r.cpu_ms_per_call:.1f} | "
              f"{r.errors.total()} |")
    failures = [(r, kind, count) for r in results for kind, count in r.errors.items()]
    for r, kind, count in failures:
        print(f"\nerrors: {r.target}, {'stream' if r.stream else 'plain'}, {r.concurrency} "
              f"clients: {count} x {kind}", end="")
    if failures:
        print()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--levels", default="1,20,100", help="concurrent clients, in order")
    parser.add_argument("--duration", type=float, default=6.0, help="seconds measured per cell")
    parser.add_argument("--warmup", type=float, default=1.0, help="seconds before measuring")
    parser.add_argument("--latency", type=float, default=0.05, help="mock provider delay (s)")
    parser.add_argument("--workers", type=int, default=2, help="workers of each server")
    parser.add_argument("--without-proxy", action="store_true",
                        help="leave out (c), the LiteLLM proxy")
    parser.add_argument("--keep-logs", metavar="DIR", help="copy the servers' logs here")
    parser.add_argument("--baseline", metavar="REF",
                        help="also measure SynapScale at this commit, (b0), in the same run")
    parser.add_argument("--provider-http", action="store_true",
                        help="the mock provider answers over plain HTTP (default: HTTPS)")
    parser.add_argument("--serve-mock", metavar="PORT_FILE", help=argparse.SUPPRESS)
    parser.add_argument("--tls-dir", default="", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.serve_mock:
        serve_mock(args.serve_mock, args.latency, args.tls_dir)
        return
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    levels = [int(level) for level in args.levels.split(",")]
    litellm = None
    if not args.without_proxy:
        litellm = ensure_proxy_venv(Path(os.environ.get("LITELLM_PROXY_VENV", DEFAULT_VENV)))

    with tempfile.TemporaryDirectory(prefix="gateway-overhead-") as tmp:
        workdir = Path(tmp)
        mongo = mock = synapscale = proxy = baseline = None
        baseline_tree = workdir / "baseline"
        if args.baseline:
            subprocess.run(["git", "worktree", "add", "--detach", str(baseline_tree), args.baseline],
                           cwd=ROOT, check=True, capture_output=True)
        try:
            mongo_uri = os.environ.get("MONGODB_URI", "")
            if not mongo_uri:
                mongo = EmbeddedMongo(workdir / "mongo", free_port())
                mongo_uri = mongo.ensure_running()
            # SynapScale's calls cost its database CPU too (the embedded one is in the count)
            database = (mongo.process.pid,) if mongo is not None and mongo.process else ()
            tls = not args.provider_http
            if tls:  # every server of the run, and the direct client, trust only the mock
                os.environ["SSL_CERT_FILE"] = str(provider_certificate(workdir))
            mock, mock_port = start_mock(workdir, args.latency, tls)
            catalogue = write_catalogue(workdir / "models.yaml", mock_port,
                                        "https" if tls else "http")
            ours_port, proxy_port = free_port(), free_port()
            synapscale, key = start_synapscale(workdir, ours_port, mongo_uri, catalogue,
                                               args.workers)
            if litellm is not None:
                proxy = start_proxy(workdir, litellm, proxy_port, catalogue, args.workers)
            baseline_target = []
            if args.baseline:
                baseline_port = free_port()
                baseline, baseline_key = start_synapscale(workdir, baseline_port, mongo_uri,
                                                          catalogue, args.workers, baseline_tree)
                baseline_target = [Target(
                    f"(b0) {args.baseline[:10]}",
                    f"http://127.0.0.1:{baseline_port}/v1/chat/completions", SYNAPSCALE_MODEL,
                    {"Authorization": f"Bearer {baseline_key}"}, (baseline.pid, *database))]
            targets = [
                Target("(a) direct", f"{'https' if tls else 'http'}://127.0.0.1:{mock_port}"
                       "/v1/chat/completions", MODEL,
                       {"Authorization": "Bearer mock"}, (mock.pid,)),
                Target("(b) synapscale", f"http://127.0.0.1:{ours_port}/v1/chat/completions",
                       SYNAPSCALE_MODEL, {"Authorization": f"Bearer {key}"},
                       (synapscale.pid, *database)),
                Target("(c) litellm", f"http://127.0.0.1:{proxy_port}/v1/chat/completions",
                       SYNAPSCALE_MODEL, {"Authorization": f"Bearer {PROXY_KEY}"},
                       (proxy.pid,) if proxy else ()),
            ][:3 if proxy else 2]
            targets[2:2] = baseline_target
            for target in targets:  # first calls import and connect in every worker
                for stream in (False, True):
                    asyncio.run(load(target, stream, 8, args.warmup * 3, 0.0))
            results = measure(targets, levels, args.duration, args.warmup)
        finally:
            for process in (proxy, synapscale, baseline, mock):
                stop(process)
            if args.baseline:
                subprocess.run(["git", "worktree", "remove", "--force", str(baseline_tree)],
                               cwd=ROOT, check=False)
            if args.keep_logs:
                for log in workdir.glob("*.log"):
                    shutil.copy(log, args.keep_logs)
            if mongo is not None:
                mongo.stop()
    print_table(results, args)


if __name__ == "__main__":
    main()
