"""Start helper processes (the embedded MongoDB, the local model server) that die with the app.

Run as a script, this module is the first program of such a child: it asks Linux to send it a
signal when its parent dies (prctl PR_SET_PDEATHSIG, kept across exec), checks the parent did not
die before that, then replaces itself with the real command. So the child goes away even when the
app is killed with SIGKILL or crashes, which no atexit hook or signal handler can see. (The signal
is sent when the *thread* that started the child ends: start children from a thread that lives as
long as they should.) On systems without prctl the command runs unguarded.
"""
from __future__ import annotations

import ctypes
import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

PR_SET_PDEATHSIG = 1  # <linux/prctl.h>
# What a child sees of the app's environment: nothing else. The app's secrets stay in the app,
# and settings meant for the app (PORT, HOST, MODEL...) cannot reconfigure a child that reads
# its own from the environment (llama_cpp.server's pydantic settings do).
INHERITED = ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR", "TZ")

# Popen waits until its child has exec'ed, reading a pipe whose write end only the child should
# hold. A process that forks meanwhile (gunicorn's master forking a worker while a supervisor
# thread starts a server) hands that end to the new process, and the wait lasts as long as it
# lives. No fork happens while a child is being started.
_starting = threading.Lock()
os.register_at_fork(before=_starting.acquire, after_in_parent=_starting.release,
                    after_in_child=_starting.release)


def spawn(command: list[str], log_path: Path, death_signal: signal.Signals) -> subprocess.Popen:
    """Start `command` in its own session with a minimal environment, output appended to
    `log_path`, sent `death_signal` when this process (the starting thread) dies."""
    guarded = [sys.executable, str(Path(__file__).resolve()), str(os.getpid()),
               str(int(death_signal)), *command]
    environment = {name: os.environ[name] for name in INHERITED if name in os.environ}
    with open(log_path, "ab") as log, _starting:
        return subprocess.Popen(guarded, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                env=environment, start_new_session=True)


def die_with_parent(parent_pid: int, death_signal: int) -> None:
    """Asks Linux to send `death_signal` to this process when its parent dies; exits at once if
    the parent (`parent_pid`) is already gone. A no-op elsewhere."""
    if sys.platform.startswith("linux"):
        libc = ctypes.CDLL(None, use_errno=True)
        if libc.prctl(PR_SET_PDEATHSIG, death_signal, 0, 0, 0) != 0:
            raise OSError(ctypes.get_errno(), "prctl(PR_SET_PDEATHSIG) failed")
    if os.getppid() != parent_pid:  # the parent died before the request took effect
        sys.exit(1)


if __name__ == "__main__":
    parent, sig, *program = sys.argv[1:]
    die_with_parent(int(parent), int(sig))
    os.execvp(program[0], program)  # noqa: S606 - the command our parent chose
