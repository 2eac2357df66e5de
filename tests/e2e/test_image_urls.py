"""Image URLs in chat messages are fetched by the server under the outbound-address rules and
reach the provider inline, never as a URL a library would fetch from inside the network (SSRF)."""
from __future__ import annotations

import base64
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from tests.support.gateway import assert_openai_error, bearer, create_key
from tests.support.mock_provider import PRIMARY

PNG = base64.b64decode("iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9"
                       "awAAAABJRU5ErkJggg==")


@pytest.fixture
def image_server():
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def do_GET(self):
            body, kind = (PNG, "image/png") if self.path == "/cat.png" else (b"<html/>", "text/html")
            self.send_response(200)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def ask_about(client, key: str, url):
    return client.post("/v1/chat/completions", headers=bearer(key), json={
        "model": f"openai/{PRIMARY}", "messages": [{"role": "user", "content": [
            {"type": "text", "text": "What is in this picture?"},
            {"type": "image_url", "image_url": {"url": url, "detail": "low"}}]}]})


@pytest.fixture
def key(api):
    owner = api.register()
    return create_key(api, owner, api.personal_workspace(owner))["key"]


@pytest.mark.parametrize("url", [
    "http://127.0.0.1:9/cat.png",           # loopback
    "http://169.254.169.254/latest/meta-data/",  # cloud metadata
    "http://[::ffff:127.0.0.1]:9/cat.png",  # IPv4-mapped IPv6
    "http://2130706433/cat.png",            # 127.0.0.1 as a decimal number
    "file:///etc/passwd",
    "gopher://127.0.0.1:6379/_INFO",
])
def test_an_image_url_inside_the_network_is_refused_before_any_provider_call(
        client, key, mock_provider, url):
    before = len(mock_provider.requests)
    assert_openai_error(ask_about(client, key, url), 400, "invalid_image_url")
    assert len(mock_provider.requests) == before


@pytest.mark.parametrize("settings_overrides", [{"outbound_allowlist": ("127.0.0.1",)}])
def test_an_allowed_image_reaches_the_provider_inline(client, key, mock_provider, image_server):
    response = ask_about(client, key, f"{image_server}/cat.png")
    assert response.status_code == 200, response.get_json()
    part = mock_provider.calls(PRIMARY)[-1]["messages"][0]["content"][1]
    assert part["image_url"]["url"] == "data:image/png;base64," + base64.b64encode(PNG).decode()
    assert part["image_url"]["detail"] == "low"


@pytest.mark.parametrize("settings_overrides", [{"outbound_allowlist": ("127.0.0.1",)}])
def test_a_url_that_is_not_an_image_is_refused(client, key, mock_provider, image_server):
    before = len(mock_provider.requests)
    error = assert_openai_error(ask_about(client, key, f"{image_server}/page"), 400,
                                "invalid_image_url")
    assert "not an image" in error["message"]
    assert len(mock_provider.requests) == before
