"""gunicorn with the project's gunicorn.conf.py, for end-to-end tests across real workers.

Which worker served what is read from outside, the way an operator would: gunicorn's own access
log (`%(p)s` is the worker's pid) for HTTP requests, and /proc for open connections.
"""
from __future__ import annotations

import os
import signal
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from adapters.embedded_mongo import free_port
from tests.support.processes import ROOT, python_command, start, stop, wait_for_http

ACCESS_FORMAT = "%(p)s %({x-request-id}i)s %(s)s"


@dataclass
class Gunicorn:
    process: object
    port: int
    access_log: Path

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def worker_pids(self) -> set[int]:
        return set(children_of(self.process.pid))

    def served_by(self, request_id: str) -> int | None:
        """The pid of the worker whose access log line carries this X-Request-ID."""
        for line in self.access_log.read_text().splitlines():
            pid, rid, _status = line.split(" ", 2)
            if rid == request_id:
                return int(pid.strip("<>"))
        return None

    @contextmanager
    def accepting_only(self, worker: int) -> Iterator[None]:
        """Connections opened inside this block land on `worker`: the other workers are paused
        (SIGSTOP) meanwhile, so only it accepts from the shared listening socket. Where the kernel
        would hand a connection left to chance, this makes the test deterministic."""
        others = self.worker_pids() - {worker}
        for pid in others:
            os.kill(pid, signal.SIGSTOP)
        try:
            yield
        finally:
            for pid in others:
                os.kill(pid, signal.SIGCONT)

    def holder_of(self, client_port: int) -> int | None:
        """The worker holding the server end of the connection from `client_port`."""
        inode = _server_socket_inode(self.port, client_port)
        for pid in self.worker_pids():
            fds = Path(f"/proc/{pid}/fd")
            for fd in fds.iterdir():
                try:
                    if fd.readlink().name == f"socket:[{inode}]":
                        return pid
                except OSError:
                    continue
        return None


def start_gunicorn(tmp_path: Path, env: dict[str, str], workers: int = 2) -> Gunicorn:
    port = free_port()
    access_log = tmp_path / "access.log"
    access_log.touch()
    command = python_command("-m", "gunicorn", "-c", str(ROOT / "gunicorn.conf.py"),
                             "--access-logfile", str(access_log),
                             "--access-logformat", ACCESS_FORMAT, "app:create_app()")
    defaults = {"PORT": str(port), "HOST": "127.0.0.1", "WEB_CONCURRENCY": str(workers),
                "LOG_LEVEL": "WARNING", "GUNICORN_GRACEFUL_TIMEOUT": "5"}
    process = start(command, {**defaults, **env}, tmp_path / "gunicorn.log")
    server = Gunicorn(process, port, access_log)
    try:
        wait_for_http(f"{server.base}/health", process=process)
    except Exception:
        stop(process)
        raise
    return server


def new_request_id() -> str:
    return uuid.uuid4().hex


def children_of(parent: int) -> list[int]:
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            if ppid == parent:
                pids.append(int(entry.name))
    return pids


def descendants(pid: int) -> set[int]:
    """Every process below `pid`: children, their children..."""
    found, frontier = set(), [pid]
    while frontier:
        children = children_of(frontier.pop())
        found.update(children)
        frontier.extend(children)
    return found


def _server_socket_inode(server_port: int, client_port: int) -> str | None:
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            columns = line.split()
            local_port = int(columns[1].rsplit(":", 1)[1], 16)
            remote_port = int(columns[2].rsplit(":", 1)[1], 16)
            if local_port == server_port and remote_port == client_port:
                return columns[9]
    return None
