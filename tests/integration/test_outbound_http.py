"""The SSRF guard of adapters/outbound_http.py against a real local HTTP server."""
from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import pytest

from adapters.outbound_http import GuardedHttpClient, system_resolver
from entities.outbound import OutboundFailed, OutboundRefused


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def do_GET(self):
        url = urlsplit(self.path)
        query = parse_qs(url.query)
        if url.path == "/redirect":
            return self._send(302, b"", {"Location": query["to"][0]})
        if url.path == "/big":
            return self._send(200, b"x" * 200_000)
        if url.path == "/slow":
            time.sleep(1.0)
        body = json.dumps({"path": url.path, "host": self.headers.get("Host"),
                           "authorization": self.headers.get("Authorization"),
                           "api_key": self.headers.get("X-Api-Key"),
                           "accept": self.headers.get("Accept")}).encode()
        self._send(200, body, {"Content-Type": "application/json"})

    def _send(self, status, body, headers=None):
        self.send_response(status)
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


class QuietServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address):
        pass  # clients that stop reading (size cap, timeout) are the point of some tests


@pytest.fixture(scope="module")
def server():
    httpd = QuietServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield f"127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


def resolver(table: dict[str, list[str]]):
    """Test names from `table`; every other name (and IP literal) as the system resolves it."""
    def resolve(host, port):
        return table[host] if host in table else system_resolver(host, port)
    return resolve


@pytest.mark.parametrize("url", [
    "http://127.0.0.1/", "http://10.1.2.3/admin", "http://169.254.169.254/latest/meta-data/",
    "http://localhost:8080/", "http://[::1]/", "http://[::ffff:127.0.0.1]/",
    "http://2130706433/", "http://0.0.0.0/", "http://100.64.0.1/", "http://224.0.0.1/",
    "http://192.168.1.1/", "http://172.16.0.1/", "http://[fe80::1]/",
])
def test_private_loopback_link_local_and_reserved_addresses_are_refused(url):
    with pytest.raises(OutboundRefused):
        GuardedHttpClient().request("GET", url)


def test_a_public_name_that_resolves_to_loopback_is_refused():
    client = GuardedHttpClient(resolver=resolver({"innocent.example": ["127.0.0.1"]}))
    with pytest.raises(OutboundRefused) as refused:
        client.check_url("https://innocent.example/hook")
    assert "innocent.example resolves to 127.0.0.1" in refused.value.message


def test_a_name_with_one_private_address_among_public_ones_is_refused():
    client = GuardedHttpClient(resolver=resolver({"mixed.example": ["93.184.216.34", "10.0.0.7"]}))
    with pytest.raises(OutboundRefused):
        client.check_url("http://mixed.example/")


@pytest.mark.parametrize("url", ["ftp://example.com/", "file:///etc/passwd", "/relative",
                                 "http://user:pw@example.com/", "http://exa mple.com:99999/"])
def test_urls_that_are_not_plain_http_are_refused(url):
    with pytest.raises(OutboundRefused):
        GuardedHttpClient().check_url(url)


def test_an_allow_listed_network_is_reached(server):
    response = GuardedHttpClient(["127.0.0.1/32"]).request("GET", f"http://{server}/hello")
    assert response.status == 200
    assert json.loads(response.body)["path"] == "/hello"


def test_a_redirect_to_a_refused_address_is_refused(server):
    client = GuardedHttpClient(["service.test"], resolver=resolver({"service.test": ["127.0.0.1"]}))
    port = server.split(":")[1]
    base = f"http://service.test:{port}"
    assert client.request("GET", f"{base}/fine").status == 200
    for target in ("http://169.254.169.254/latest/meta-data/", f"http://127.0.0.1:{port}/secret",
                   "http://10.0.0.1/"):
        with pytest.raises(OutboundRefused):
            client.request("GET", f"{base}/redirect?to={target}")


def test_redirects_are_followed_and_credentials_are_not_sent_to_another_host(server):
    port = server.split(":")[1]
    client = GuardedHttpClient(["127.0.0.0/8"], resolver=resolver({
        "a.test": ["127.0.0.1"], "b.test": ["127.0.0.1"]}))
    response = client.request("GET", f"http://a.test:{port}/redirect?to=http://b.test:{port}/landed",
                              headers={"Authorization": "Bearer secret"})
    body = json.loads(response.body)
    assert (body["path"], body["host"], body["authorization"]) == ("/landed", f"b.test:{port}", None)
    assert response.url == f"http://b.test:{port}/landed"


def test_no_secret_header_of_any_name_follows_a_redirect_to_another_origin(server):
    port = server.split(":")[1]
    client = GuardedHttpClient(["127.0.0.0/8"], resolver=resolver({
        "a.test": ["127.0.0.1"], "b.test": ["127.0.0.1"]}))
    headers = {"X-Api-Key": "k-secret", "Authorization": "Bearer secret", "Accept": "text/plain"}
    for target in (f"http://b.test:{port}/landed",  # another host
                   f"http://127.0.0.1:{port}/landed"):  # the same server by another name
        body = json.loads(client.request("GET", f"http://a.test:{port}/redirect?to={target}",
                                         headers=headers).body)
        assert (body["api_key"], body["authorization"], body["accept"]) == (
            None, None, "text/plain")
    same = json.loads(client.request("GET", f"http://a.test:{port}/redirect?to=/landed",
                                     headers=headers).body)
    assert (same["api_key"], same["authorization"]) == ("k-secret", "Bearer secret")


def test_the_connection_goes_to_the_address_that_was_checked(server):
    """DNS rebinding: a second lookup would answer differently; none is made."""
    answers = iter([["127.0.0.1"], ["169.254.169.254"]])
    lookups = []

    def rebinding(host, port):
        lookups.append(host)
        return next(answers)

    client = GuardedHttpClient(["127.0.0.1/32"], resolver=rebinding)
    port = server.split(":")[1]
    response = client.request("GET", f"http://rebind.test:{port}/pinned")
    body = json.loads(response.body)
    assert (body["path"], body["host"], body["authorization"]) == (
        "/pinned", f"rebind.test:{port}", None)
    assert lookups == ["rebind.test"]


def test_a_response_over_the_size_cap_fails(server):
    with pytest.raises(OutboundFailed) as failed:
        GuardedHttpClient(["127.0.0.1"]).request("GET", f"http://{server}/big", max_bytes=1000)
    assert "larger than 1000 bytes" in failed.value.message


def test_a_slow_server_times_out(server):
    began = time.monotonic()
    with pytest.raises(OutboundFailed):
        GuardedHttpClient(["127.0.0.1"]).request("GET", f"http://{server}/slow", timeout_s=0.3)
    assert time.monotonic() - began < 0.9


def test_too_many_redirects_fail(server):
    client = GuardedHttpClient(["127.0.0.1"], max_redirects=2)
    loop = f"http://{server}/redirect?to=http://{server}/redirect?to=http://{server}/redirect" \
           f"?to=http://{server}/end"
    with pytest.raises(OutboundFailed) as failed:
        client.request("GET", loop)
    assert "more than 2 redirects" in failed.value.message
