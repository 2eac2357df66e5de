"""Debian's nginx, configured by deploy/nginx.conf, in front of gunicorn: HTTP, SSE, WebSocket,
JSON errors of its own, and the client IP the API sees (TRUSTED_PROXIES=1)."""
import json
import os
import shutil
import socket
import subprocess
import time
import uuid
from pathlib import Path

import pymongo
import pytest
import requests
import websocket
from requests.adapters import HTTPAdapter

from adapters.embedded_mongo import free_port
from tests.support.fixtures import mock_catalogue_path
from tests.support.gunicorn import start_gunicorn
from tests.support.processes import ROOT, stop

pytestmark = pytest.mark.slow

TEMPLATE = ROOT / "deploy" / "nginx.conf"
BODY_LIMIT = "2m"


def nginx_binary() -> str:
    found = shutil.which("nginx") or next(
        (p for p in ("/usr/sbin/nginx", "/usr/local/sbin/nginx") if os.access(p, os.X_OK)), None)
    if found is None:
        pytest.fail("nginx is not installed: `apt-get install -y nginx` (.ci/run installs it)")
    return found


def render(template: str, **values: str) -> str:
    """What the nginx image's envsubst does: replace ${NAME} for the given names only."""
    for name, value in values.items():
        template = template.replace("${" + name + "}", value)
    assert "${" not in template, "a template variable was left unfilled"
    return template


def main_config(tmp: Path, site: Path) -> str:
    user = "user root root;\n" if os.geteuid() == 0 else ""
    temp = "\n".join(f"    {kind}_temp_path {tmp / kind};" for kind in
                     ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"))
    return f"""{user}daemon off;
worker_processes 1;
pid {tmp / 'nginx.pid'};
error_log {tmp / 'error.log'} warn;
events {{ worker_connections 1024; }}
http {{
    include /etc/nginx/mime.types;
    access_log {tmp / 'access.log'};
{temp}
    include {site};
}}
"""


def wait_for_port(port: int, process: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"nginx exited: {log.read_text() if log.exists() else ''}")
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    pytest.fail("nginx did not listen")


@pytest.fixture(scope="module")
def nginx_dir(tmp_path_factory) -> Path:
    """Where the module's nginx keeps its configuration and logs."""
    return tmp_path_factory.mktemp("nginx")


@pytest.fixture(scope="module")
def stack(nginx_dir, mongo_uri, mock_provider_server):
    """One gunicorn and one nginx for the module; tests use distinct users and client IPs."""
    binary = nginx_binary()
    tmp_path = nginx_dir
    database = f"test_{uuid.uuid4().hex[:12]}"
    api = start_gunicorn(tmp_path, {
        "MONGODB_URI": mongo_uri, "MONGODB_DATABASE": database, "BCRYPT_ROUNDS": "4",
        "MODELS_CONFIG": str(mock_catalogue_path()), "TRUSTED_PROXIES": "1",
        "RATELIMIT_AUTH": "3 per minute", "RATELIMIT_DEFAULT": "10000 per minute"}, workers=1)
    port = free_port()
    site = tmp_path / "synapscale.conf"
    site.write_text(render(TEMPLATE.read_text(), NGINX_PORT=f"127.0.0.1:{port}",
                           API_UPSTREAM=f"127.0.0.1:{api.port}", NGINX_MAX_BODY_SIZE=BODY_LIMIT,
                           NGINX_ACCESS_LOG=str(tmp_path / "site-access.log")))
    config = tmp_path / "nginx.conf"
    config.write_text(main_config(tmp_path, site))
    error_log = tmp_path / "error.log"
    checked = subprocess.run([binary, "-t", "-p", str(tmp_path), "-c", str(config), "-e",
                              str(error_log)], capture_output=True, text=True)
    assert checked.returncode == 0, checked.stderr
    nginx = subprocess.Popen([binary, "-p", str(tmp_path), "-c", str(config), "-e", str(error_log)],
                             stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
    try:
        wait_for_port(port, nginx, error_log)
        yield f"127.0.0.1:{port}"
    finally:
        nginx.terminate()
        nginx.wait(10)
        stop(api.process)
        pymongo.MongoClient(mongo_uri).drop_database(database)


class FromAddress(HTTPAdapter):
    """Connections from another loopback address (127.0.0.2...): a client nginx can tell apart
    from itself."""

    def __init__(self, address: str):
        self.address = address
        super().__init__()

    def init_poolmanager(self, *args, **kwargs):
        kwargs["source_address"] = (self.address, 0)
        super().init_poolmanager(*args, **kwargs)


def client_at(address: str) -> requests.Session:
    session = requests.Session()
    session.mount("http://", FromAddress(address))
    return session


def register(session: requests.Session, host: str, **headers) -> dict:
    response = session.post(f"http://{host}/api/v1/auth/register", headers=headers, timeout=10,
                            json={"email": f"n-{uuid.uuid4().hex[:10]}@example.com",
                                  "password": "correct-horse-1", "name": "Via nginx"})
    assert response.status_code == 201, response.text
    return response.json()


def test_plain_http_passes_through_with_the_api_headers(stack):
    host = stack
    response = requests.get(f"http://{host}/health", timeout=10)
    assert response.status_code == 200
    assert response.json()["status"] == "healthy"
    assert response.headers["X-Request-ID"]
    assert "nginx/" not in response.headers.get("Server", "")


def test_the_api_sees_the_real_client_ip_not_a_forged_forwarded_header(stack):
    host = stack
    client = client_at("127.0.0.2")
    account = register(client, host, **{"X-Forwarded-For": "203.0.113.9"})
    sessions = client.get(f"http://{host}/api/v1/auth/sessions", timeout=10, headers={
        "Authorization": f"Bearer {account['access_token']}"}).json()
    assert [s["ip"] for s in sessions] == ["127.0.0.2"]


def test_rate_limits_count_per_real_client_ip(stack):
    host = stack
    attacker, bystander = client_at("127.0.0.3"), client_at("127.0.0.4")
    login = {"email": "nobody@example.com", "password": "wrong-password"}
    statuses = [attacker.post(f"http://{host}/api/v1/auth/login", json=login, timeout=10,
                              headers={"X-Forwarded-For": f"198.51.100.{i}"}).status_code
                for i in range(4)]
    assert statuses == [401, 401, 401, 429]
    assert bystander.post(f"http://{host}/api/v1/auth/login", json=login,
                          timeout=10).status_code == 401


def test_a_websocket_is_upgraded_through_nginx_and_receives_events(stack):
    host = stack
    owner, newcomer = register(requests.Session(), host), register(requests.Session(), host)
    ws = websocket.create_connection(
        f"ws://{host}/api/v1/ws/user?token={newcomer['access_token']}", timeout=10)
    try:
        headers = {"Authorization": f"Bearer {owner['access_token']}"}
        workspace = requests.post(f"http://{host}/api/v1/workspaces", headers=headers,
                                  json={"name": "via nginx"}, timeout=10).json()["id"]
        added = requests.post(f"http://{host}/api/v1/workspaces/{workspace}/members",
                              headers=headers, timeout=10,
                              json={"email": newcomer["user"]["email"], "role": "member"})
        assert added.status_code == 201, added.text
        event = json.loads(ws.recv())
        assert event["type"] == "member.added" and event["workspace_id"] == workspace
    finally:
        ws.close()


def test_server_sent_events_arrive_one_by_one_not_buffered(stack, mock_provider):
    host = stack
    words = [f"w{i}" for i in range(8)]
    mock_provider.behave(None, reply=" ".join(words), token_delay=0.15)
    user = register(requests.Session(), host)
    headers = {"Authorization": f"Bearer {user['access_token']}"}
    talk = requests.post(f"http://{host}/api/v1/talks", headers=headers, json={},
                         timeout=10).json()
    arrivals: dict[str, list[float]] = {}
    with requests.post(f"http://{host}/api/v1/talks/{talk['id']}/messages", headers=headers,
                       json={"content": "count", "stream": True}, stream=True,
                       timeout=30) as response:
        assert response.status_code == 200, response.text
        assert response.headers["Content-Type"].startswith("text/event-stream")
        for line in response.iter_lines(chunk_size=1):
            if line.startswith(b"event: "):
                arrivals.setdefault(line[7:].decode(), []).append(time.monotonic())
    assert "done" in arrivals, arrivals.keys()
    deltas = arrivals["delta"]
    assert len(deltas) >= 4
    assert arrivals["done"][0] - deltas[0] >= 0.5  # the first words came while the rest were made
    assert deltas[-1] - deltas[0] >= 0.5


def test_a_body_over_the_proxy_limit_gets_the_api_error_shape_from_nginx(stack):
    host = stack
    response = requests.post(f"http://{host}/api/v1/files/upload", data=b"x" * (3 * 1024 * 1024),
                             headers={"Content-Type": "application/octet-stream"}, timeout=10)
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "payload_too_large"


def test_tokens_in_query_strings_never_reach_the_access_log(stack, nginx_dir, mock_provider):
    host = stack
    session = register(client_at("127.0.0.9"), host)  # an address of its own: its own auth limit
    token = session["access_token"]
    ws = websocket.create_connection(f"ws://{host}/api/v1/ws/user?token={token}", timeout=10)
    ws.close()
    headers = {"Authorization": f"Bearer {token}"}
    talk = requests.post(f"http://{host}/api/v1/talks", json={}, headers=headers, timeout=10).json()
    exchange = requests.post(f"http://{host}/api/v1/talks/{talk['id']}/messages", timeout=30,
                             json={"content": "hi"}, headers=headers).json()
    resumed = requests.get(f"http://{host}/api/v1/talks/{talk['id']}/messages/"
                           f"{exchange['assistant_message']['id']}/stream?token={token}",
                           timeout=30)
    assert resumed.status_code == 200
    log = nginx_dir / "site-access.log"
    deadline = time.monotonic() + 5
    while "/stream " not in (text := log.read_text()) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert f"/api/v1/talks/{talk['id']}/messages/" in text and "/api/v1/ws/user " in text
    assert token not in text and "token=" not in text
