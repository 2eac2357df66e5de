"""S3Storage against a real S3-API server (moto's, started by the tests): multipart uploads
streamed a part at a time, ranged seekable reads, deletes, presigned links, and no object or
stored part left by an upload that fails midway."""
from __future__ import annotations

import hashlib
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from adapters.s3_storage import S3Storage
from entities.errors import NotFound
from entities.file import attachment_disposition

PART = 5 * 1024 * 1024  # S3's smallest part


@pytest.fixture
def bucket(s3_server) -> str:
    return s3_server.new_bucket()


@pytest.fixture
def storage(s3_server, bucket) -> S3Storage:
    return S3Storage(s3_server.client(), bucket, part_size=PART)


def pieces(data: bytes, size: int = 100_000):
    return (data[i:i + size] for i in range(0, len(data), size))


def test_a_multi_part_blob_is_streamed_back_and_seekable(storage, s3_server, bucket):
    data = bytes(range(256)) * (2 * PART // 256 + 1000)  # three parts, the last one short
    sent = []

    def counted():
        for piece in pieces(data):
            sent.append(len(piece))
            yield piece

    key = storage.save(counted(), "big.bin")

    assert s3_server.keys(bucket) == [key] and s3_server.pending_uploads(bucket) == []
    head = s3_server.client().head_object(Bucket=bucket, Key=key)
    assert head["ContentLength"] == len(data) and head["ETag"].endswith('-3"')  # 3 parts
    with storage.open(key) as stream:
        assert stream.read(10) == data[:10]
        stream.seek(PART + 5)
        assert stream.read(3) == data[PART + 5:PART + 8]
        stream.seek(-4, 2)
        assert stream.read() == data[-4:]
        stream.seek(0)
        assert hashlib.sha256(stream.read()).digest() == hashlib.sha256(data).digest()
    storage.delete(key)
    storage.delete(key)
    assert s3_server.keys(bucket) == []
    with pytest.raises(NotFound):
        storage.open(key)


def test_a_small_blob_is_one_put_and_an_empty_one_reads_empty(storage, s3_server, bucket):
    small = storage.save([b"hello ", b"world"], "small.txt")
    empty = storage.save([], "empty.txt")

    assert s3_server.pending_uploads(bucket) == []
    with storage.open(small) as stream:
        assert stream.read() == b"hello world"
    with storage.open(empty) as stream:
        assert stream.read() == b""
    with pytest.raises(NotFound):
        storage.open("0" * 32)


@pytest.mark.parametrize("fail_after", [PART // 2, 2 * PART + 10])
def test_an_upload_that_fails_midway_leaves_no_object_and_no_parts(storage, s3_server, bucket,
                                                                   fail_after):
    """Before the first part (nothing sent yet) and after two parts went to S3."""

    def failing():
        yield from pieces(b"x" * fail_after)
        raise RuntimeError("client went away")

    with pytest.raises(RuntimeError, match="client went away"):
        storage.save(failing(), "broken.txt")

    assert s3_server.keys(bucket) == []
    assert s3_server.pending_uploads(bucket) == []


def test_a_presigned_link_serves_the_bytes_as_an_attachment_for_its_ttl(storage):
    key = storage.save([b"%PDF-1.4 presigned"], "doc.pdf")

    url = storage.direct_url(key, attachment_disposition("résumé.pdf"), "application/pdf", 900)

    query = parse_qs(urlsplit(url).query)
    assert query["X-Amz-Expires"] == ["900"] and "X-Amz-Signature" in query
    served = requests.get(url, timeout=10)  # no credentials: the signature is the grant
    assert served.status_code == 200 and served.content == b"%PDF-1.4 presigned"
    assert served.headers["Content-Type"] == "application/pdf"
    assert served.headers["Content-Disposition"] == attachment_disposition("résumé.pdf")


def test_reads_in_order_use_a_few_bounded_gets_and_a_seek_starts_a_small_one(s3_server, bucket):
    client = s3_server.client()
    ranges: list[str] = []
    client.meta.events.register("before-call.s3.GetObject",
                                lambda params, **_: ranges.append(params["headers"]["Range"]))
    storage = S3Storage(client, bucket, part_size=PART)
    data = bytes(range(256)) * (12 * 1024 * 1024 // 256)
    key = storage.save(pieces(data, 1024 * 1024), "big.bin")

    with storage.open(key) as stream:
        assert hashlib.sha256(stream.read()).digest() == hashlib.sha256(data).digest()
        in_order = list(ranges)
        stream.seek(1000)
        assert stream.read(10) == data[1000:1010]

    # 256 KiB, then twice as long each time, up to 8 MiB: every range has an end
    assert in_order[:3] == ["bytes=0-262143", "bytes=262144-786431", "bytes=786432-1835007"]
    assert len(in_order) == 6 and in_order[-1].endswith(f"-{len(data) - 1}")
    assert ranges[len(in_order):] == ["bytes=1000-263143"]
