"""What the benchmarks share: a gunicorn server of the project, its health wait, percentiles."""
from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parents[1]


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
