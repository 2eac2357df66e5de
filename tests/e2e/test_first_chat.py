"""The README's first steps, run as a new user would: `python app.py` (what `make run` runs) on
the embedded MongoDB and the local model, the README's walk-through commands word for word, and
the app killed with SIGKILL leaving no process behind. Then the same under gunicorn: one model
server for the host, shared by both workers."""
from __future__ import annotations

import os
import re
import signal
import subprocess
import time
from pathlib import Path

import pytest
import requests

from adapters.embedded_mongo import free_port
from tests.support.gunicorn import descendants, start_gunicorn
from tests.support.processes import ROOT, python_command, start, stop, wait_for_http
from tests.support.streams import parse_sse

pytestmark = [pytest.mark.slow, pytest.mark.local_model]

README_PORT = "127.0.0.1:5000"


def walkthrough() -> str:
    readme = (ROOT / "README.md").read_text()
    block = re.search(r"<!-- first-chat:begin -->\s*```bash\n(.*?)```\s*<!-- first-chat:end -->",
                      readme, re.S)
    assert block, "README.md lost its first-chat walk-through"
    return block.group(1)


def fresh_environment(tmp_path: Path) -> dict[str, str]:
    """A new user's machine: no database, no provider key, nothing running."""
    env = {key: value for key, value in os.environ.items()
           if key not in {"MONGODB_URI", "LOCAL_MODEL_URL", "OPENAI_API_KEY", "ANTHROPIC_API_KEY",
                          "GOOGLE_API_KEY", "OLLAMA_API_BASE", "MODELS_CONFIG", "DEFAULT_MODEL"}}
    return {**env, "EMBEDDED_MONGO_PATH": str(tmp_path / "mongo"),
            "EMBEDDED_MONGO_PORT": str(free_port()), "LOCAL_MODEL_PATH": str(tmp_path / "local-model"),
            "LOCAL_MODEL_PORT": str(free_port()), "LOG_LEVEL": "WARNING"}


def local_model_when_up(base: str, timeout_s: float = 60.0) -> dict:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        report = requests.get(f"{base}/api/health", timeout=5).json()["local_model"]
        if report["status"] == "up":
            return report
        time.sleep(0.2)
    raise AssertionError(f"the local model did not come up: {report}")


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def assert_all_gone(pids: set[int], within_s: float = 5.0) -> None:
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline and any(alive(pid) for pid in pids):
        time.sleep(0.1)
    survivors = {pid: Path(f"/proc/{pid}/cmdline").read_bytes()[:120] for pid in pids if alive(pid)}
    assert not survivors, f"processes outlived the app: {survivors}"


@pytest.fixture
def dev_server(tmp_path):
    env = fresh_environment(tmp_path)
    port = free_port()
    process = start(python_command("app.py"), {**env, "PORT": str(port)}, tmp_path / "app.log")
    base = f"http://127.0.0.1:{port}"
    try:
        wait_for_http(f"{base}/health", process=process)
        yield process, base
    finally:
        stop(process)


def test_the_readme_walkthrough_gets_an_answer_from_the_default_model(dev_server):
    _process, base = dev_server
    local_model_when_up(base)

    script = walkthrough().replace(README_PORT, base.removeprefix("http://"))
    result = subprocess.run(["bash", "-euo", "pipefail", "-c", script], capture_output=True,
                            text=True, timeout=180)

    assert result.returncode == 0, result.stderr
    output = result.stdout
    reply = re.search(r'"assistant_message":\s*\{.*?"status":\s*"(\w+)"', output, re.S)
    assert reply and reply.group(1) == "complete", output
    events = parse_sse(output[output.index("event: user_message"):])
    names = [name for name, _data in events]
    assert names[:2] == ["user_message", "start"] and "delta" in names and names[-1] == "done"
    assert events[-1][1]["message"]["model"] == "local/smollm2"


def test_an_app_killed_with_sigkill_leaves_no_process_behind(dev_server):
    process, base = dev_server
    model_pid = local_model_when_up(base)["pid"]
    helpers = descendants(process.pid)
    assert model_pid in helpers and len(helpers) >= 2  # the database and the model server

    process.send_signal(signal.SIGKILL)
    process.wait()

    assert_all_gone(helpers)


def test_under_gunicorn_two_workers_share_one_model_server_and_die_with_the_master(tmp_path):
    env = fresh_environment(tmp_path)
    server = start_gunicorn(tmp_path, env, workers=2)
    try:
        report = local_model_when_up(server.base)
        family = descendants(server.process.pid)
        model_servers = [pid for pid in family
                         if b"llama_cpp.server" in Path(f"/proc/{pid}/cmdline").read_bytes()]
        assert model_servers == [report["pid"]]
        pids = {requests.get(f"{server.base}/api/health", timeout=5).json()["local_model"]["pid"]
                for _ in range(6)}  # answered by either worker, the same server
        assert pids == {report["pid"]}

        server.process.send_signal(signal.SIGKILL)
        server.process.wait()
        assert_all_gone(family)
    finally:
        stop(server.process)
