"""`python app.py` (what `make run` starts) on the embedded MongoDB: data survives kill -9."""
import os
import signal
import subprocess

import pytest
import requests

from adapters.embedded_mongo import free_port
from tests.support.processes import python_command, start, stop, wait_for_http

pytestmark = pytest.mark.slow


def _kill_embedded_server(mongo_port: int) -> None:
    subprocess.run(["pkill", "-9", "-f", f"secantus --host 127.0.0.1 --port {mongo_port}"],
                   check=False)


def test_written_data_survives_kill_9_of_server_and_database(tmp_path):
    port, mongo_port = free_port(), free_port()
    env = {"PORT": str(port), "EMBEDDED_MONGO_PORT": str(mongo_port),
           "EMBEDDED_MONGO_PATH": str(tmp_path / "mongo"), "LOG_LEVEL": "WARNING"}
    base = f"http://127.0.0.1:{port}"
    credentials = {"email": "durable@example.com", "password": "durable-pass-1"}

    server = start(python_command("app.py"), {**env, "MONGODB_URI": ""}, tmp_path / "run1.log")
    try:
        wait_for_http(f"{base}/health", process=server)
        health = requests.get(f"{base}/health", timeout=5).json()
        assert health["database"]["status"] == "up"
        created = requests.post(f"{base}/api/v1/auth/register",
                                json={**credentials, "name": "Durable"}, timeout=10)
        assert created.status_code == 201
    finally:
        os.killpg(server.pid, signal.SIGKILL)
        server.wait()
        _kill_embedded_server(mongo_port)

    server = start(python_command("app.py"), {**env, "MONGODB_URI": ""}, tmp_path / "run2.log")
    try:
        wait_for_http(f"{base}/health", process=server)
        login = requests.post(f"{base}/api/v1/auth/login", json=credentials, timeout=10)
        assert login.status_code == 200, login.text
    finally:
        stop(server)
        _kill_embedded_server(mongo_port)
