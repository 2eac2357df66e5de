"""Upload limits on a real HTTP server (werkzeug's, in a thread), spoken to over a raw socket so
the request can lie about its length the way a test client never does; with the bytes in
GridFS and in S3 (FILE_STORAGE)."""
from __future__ import annotations

import io
import itertools
import json
import socket
import threading
import uuid

import pytest
from werkzeug.serving import make_server

from tests.support.identity import FILE_STORAGES

MAX_FILE_SIZE = 256 * 1024
OVERSIZED = 64 * 1024 * 1024  # far more than socket buffers hold


@pytest.fixture(params=FILE_STORAGES)
def settings_overrides(request):
    storage = request.getfixturevalue("s3_server").settings() if request.param == "s3" else {}
    return {**storage, "max_file_size": MAX_FILE_SIZE}


@pytest.fixture
def port(app):
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_port
    server.shutdown()
    thread.join(timeout=10)


def multipart(boundary: str, filename: str, size: int) -> tuple[bytes, bytes, int]:
    """Head and tail of a one-file form; the file (`size` bytes of text) goes between them."""
    head = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; "
            f"filename=\"{filename}\"\r\nContent-Type: text/plain\r\n\r\n").encode()
    tail = f"\r\n--{boundary}--\r\n".encode()
    return head, tail, size


def chunked(data: bytes) -> bytes:
    return f"{len(data):x}\r\n".encode() + data + b"\r\n"


def send_and_read(port: int, head: bytes, body_pieces) -> tuple[int, dict, bool]:
    """Sends the request from a thread (the server may stop reading and answer early) while
    this thread reads the response; also tells whether the whole body had been sent by then."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=20)
    body_sent = threading.Event()

    def send():
        try:
            sock.sendall(head)
            for piece in body_pieces:
                sock.sendall(piece)
            body_sent.set()
        except OSError:  # the server answered and closed while we were still sending
            pass

    sender = threading.Thread(target=send, daemon=True)
    sender.start()
    try:
        response = sock.makefile("rb")
        status = int(response.readline().split()[1])
        headers = {}
        while (line := response.readline().strip()):
            name, _, value = line.decode().partition(":")
            headers[name.lower()] = value.strip()
        body = json.loads(response.read(int(headers["content-length"])))
        whole_body_sent = body_sent.is_set()
    finally:
        sock.shutdown(socket.SHUT_RDWR)  # unblocks the sender
        sock.close()
        sender.join(timeout=5)
    return status, body, whole_body_sent


def test_oversized_file_is_refused_while_streaming_despite_a_false_small_content_length(
        api, port):
    session = api.register()
    boundary = uuid.uuid4().hex
    form_head, form_tail, size = multipart(boundary, "big.txt", OVERSIZED)
    head = ("POST /api/v1/files/upload HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            f"Authorization: Bearer {session.access_token}\r\n"
            f"Content-Type: multipart/form-data; boundary={boundary}\r\n"
            "Content-Length: 1024\r\n"  # the lie: the body is 4 MiB
            "Transfer-Encoding: chunked\r\n\r\n").encode()
    block = chunked((b"x" * 1023 + b"\n") * 64)
    pieces = itertools.chain([chunked(form_head)], itertools.repeat(block, size // (1024 * 64)),
                             [chunked(form_tail), b"0\r\n\r\n"])

    status, body, whole_body_sent = send_and_read(port, head, pieces)

    assert status == 413
    assert body["error"]["code"] == "payload_too_large"
    assert body["error"]["details"] == {"max_bytes": MAX_FILE_SIZE}
    assert not whole_body_sent  # refused mid-stream, not after reading 64 MiB
    listing = api.request("GET", "/api/v1/files", session).get_json()
    assert listing["total"] == 0


def test_a_declared_length_over_the_limit_is_refused_before_the_body_is_read(api, port):
    session = api.register()
    head = ("POST /api/v1/files/upload HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            f"Authorization: Bearer {session.access_token}\r\n"
            "Content-Type: multipart/form-data; boundary=x\r\n"
            f"Content-Length: {OVERSIZED * 100}\r\n\r\n").encode()

    status, body, _ = send_and_read(port, head, [b"--x\r\n"])

    assert status == 413
    assert body["error"]["code"] == "payload_too_large"


def test_a_file_just_over_the_limit_is_refused_and_one_at_the_limit_accepted(api, client):
    session = api.register()
    for size, expected in ((MAX_FILE_SIZE + 1, 413), (MAX_FILE_SIZE, 201)):
        response = client.post("/api/v1/files/upload", headers=session.headers,
                               content_type="multipart/form-data",
                               data={"file": (io.BytesIO(b"a" * size), "limit.txt")})
        assert response.status_code == expected, response.get_json()
