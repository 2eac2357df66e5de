"""What the benchmarks share: a gunicorn server of the project, its health wait, percentiles."""
from __future__ import annotations

import http.client
import json
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parents[1]


PIECE_BYTES = 256 * 1024  # what a streamed upload or download moves at a time


def start_gunicorn(port: int, env: dict, log: Path, *options: str) -> subprocess.Popen:
    """gunicorn with gunicorn.conf.py; `options` are extra command-line flags (-w, -k...)."""
    command = [sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py", *options,
               "app:create_app()"]
    return subprocess.Popen(command, cwd=ROOT, env={**os.environ, **env, "PORT": str(port)},
                            stdout=log.open("ab"), stderr=subprocess.STDOUT,
                            start_new_session=True)


def wait_healthy(base: str, process: subprocess.Popen, timeout_s: float = 90) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"gunicorn exited with {process.returncode}")
        try:
            if requests.get(f"{base}/health", timeout=5).status_code == 200:
                return
        except requests.RequestException:
            pass
        time.sleep(0.3)
    raise TimeoutError("gunicorn did not become healthy")


def percentile(values: list[float], fraction: float) -> float:
    """Nearest-rank percentile; NaN for no values."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


def stream_upload(port: int, token: str, route: str, path: Path, filename: str,
                  content_type: str, expected_status: int) -> dict:
    """POSTs `path` as the multipart field `file` to `route`, streamed from disk with a known
    Content-Length (never whole in memory); the JSON answer (RuntimeError on another status)."""
    boundary = uuid.uuid4().hex
    head = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; "
            f"filename=\"{filename}\"\r\nContent-Type: {content_type}\r\n\r\n").encode()
    tail = f"\r\n--{boundary}--\r\n".encode()
    length = len(head) + path.stat().st_size + len(tail)

    def body() -> Iterator[bytes]:
        yield head
        with path.open("rb") as source:
            while piece := source.read(PIECE_BYTES):
                yield piece
        yield tail

    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
    try:
        connection.request("POST", route, body=body(), headers={
            "Authorization": f"Bearer {token}", "Content-Length": str(length),
            "Content-Type": f"multipart/form-data; boundary={boundary}"})
        response = connection.getresponse()
        payload = response.read()
        if response.status != expected_status:
            raise RuntimeError(f"{route} answered {response.status}: {payload[:300]!r}")
        return json.loads(payload)
    finally:
        connection.close()
