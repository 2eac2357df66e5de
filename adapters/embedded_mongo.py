"""Runs SecantusDB, a MongoDB-wire-compatible server, as a separate process for development.

It is started through its own CLI, the way a real mongod runs, and never imported (GPL-2.0,
a development aid rather than a production database). Several processes (gunicorn workers, the
Flask reloader) may ask for it at once: a file lock makes the first one start it and the others
reuse it. The server dies with the process that started it, even one killed with SIGKILL.
"""
from __future__ import annotations

import fcntl
import logging
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from adapters.child_process import spawn

log = logging.getLogger(__name__)


def _listening(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.2)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class EmbeddedMongo:
    def __init__(self, storage_path: str | os.PathLike, port: int, log_level: str = "WARNING"):
        self.storage_path = Path(storage_path).resolve()
        self.port = port
        self.log_level = log_level
        self.process: subprocess.Popen | None = None

    @property
    def uri(self) -> str:
        # The server advertises retryable writes but does not deduplicate a retried insert, so a
        # reply lost under load would come back as a DuplicateKeyError on our own _id.
        return f"mongodb://127.0.0.1:{self.port}/?directConnection=true&retryWrites=false"

    def ensure_running(self, timeout_s: float = 30.0) -> str:
        """Start the server unless one already listens on the port; return its URI."""
        self.storage_path.mkdir(parents=True, exist_ok=True)
        with open(self.storage_path / ".start.lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            if not _listening(self.port):
                self._spawn()
                self._wait_until_listening(timeout_s)
        return self.uri

    def _spawn(self) -> None:
        command = [
            sys.executable, "-m", "secantus",
            "--host", "127.0.0.1",
            "--port", str(self.port),
            "--storage-path", str(self.storage_path / "data"),
            "--sync-on-commit",  # an acknowledged write survives kill -9
            "--log-level", self.log_level,
        ]
        # if the app dies without stopping it: SIGKILL, which --sync-on-commit makes safe (its
        # clean SIGTERM shutdown can take seconds, and nothing may outlive the app)
        self.process = spawn(command, self.storage_path / "server.log", signal.SIGKILL)
        log.info("embedded MongoDB starting", extra={"fields": {"port": self.port}})

    def _wait_until_listening(self, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if _listening(self.port):
                return
            if self.process and self.process.poll() is not None:
                raise RuntimeError(
                    f"embedded MongoDB exited; see {self.storage_path / 'server.log'}"
                )
            time.sleep(0.1)
        raise RuntimeError("embedded MongoDB did not start in time")

    def stop(self, timeout_s: float = 10.0) -> None:
        """Stop the server if this object started it (SIGTERM lets it close WiredTiger cleanly)."""
        if not self.process or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout_s)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.process = None
