"""File bytes in an S3-compatible object store (AWS S3, MinIO, Cloudflare R2, GCS's XML API)
through boto3, written and read a part at a time.

An upload is an S3 multipart upload: at most one part (S3_PART_SIZE, 8 MiB by default) is held
in memory while the chunks arrive; a file smaller than one part is a single PUT. If the chunks
stop with an error (the client went away, the size limit or the content check tripped) the
multipart upload is aborted, so no object and no stored parts are left. A download is a stream of
ranged GETs of growing windows (up to 8 MiB); a seek (pypdf reads a PDF's end first) starts a
small one.

S3 unreachable or answering 5xx/SlowDown (after botocore's retries) is ServiceUnavailable (503).
Keys are random (uuid4 hex); file names never reach S3. Credentials come from boto3's standard
chain (AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY, AWS_PROFILE, instance roles...).
"""
from __future__ import annotations

import io
import logging
import uuid
from collections.abc import Iterable
from typing import Any, BinaryIO

from entities.errors import NotFound, ServiceUnavailable
from use_cases.files.ports import BlobStorage, DirectLinks

log = logging.getLogger(__name__)

DEFAULT_PART_BYTES = 8 * 1024 * 1024
READ_BUFFER_BYTES = 256 * 1024
MIN_WINDOW_BYTES = 256 * 1024  # the first ranged GET, and the first after a seek
MAX_WINDOW_BYTES = 8 * 1024 * 1024
MISSING = {"404", "NoSuchKey", "NotFound"}


def s3_client(endpoint_url: str = "", region: str = "", max_attempts: int = 4,
              connect_timeout_s: float = 5.0, read_timeout_s: float = 60.0):
    """A boto3 S3 client (thread-safe: one per process) with SigV4 signatures, path-style
    addressing when an endpoint is given (what MinIO and most S3-compatible servers want), and
    the standard retry mode."""
    import boto3
    from botocore.config import Config

    options = Config(signature_version="s3v4",
                     retries={"mode": "standard", "max_attempts": max_attempts},
                     connect_timeout=connect_timeout_s, read_timeout=read_timeout_s,
                     s3={"addressing_style": "path" if endpoint_url else "auto"})
    return boto3.client("s3", endpoint_url=endpoint_url or None, region_name=region or None,
                        config=options)


def _error_code(error: BaseException) -> str:
    response = getattr(error, "response", None) or {}
    return str(response.get("Error", {}).get("Code", ""))


def _unavailable(error: BaseException) -> bool:
    """S3 cannot be reached or said to retry later (connection refused, timeouts, 5xx, SlowDown):
    what clients see as 503, unlike refused credentials or a missing bucket (a configuration
    error: 500, logged)."""
    from botocore.exceptions import ClientError, ConnectionError, HTTPClientError

    if isinstance(error, ConnectionError | HTTPClientError):
        return True
    if isinstance(error, ClientError):
        status = error.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
        return status >= 500 or _error_code(error) in {"SlowDown", "RequestTimeout"}
    return False


def _storage_down(error: BaseException) -> ServiceUnavailable:
    log.warning("S3 unavailable", extra={"fields": {"error": type(error).__name__,
                                                    "code": _error_code(error)}})
    return ServiceUnavailable("File storage unavailable, retry shortly")


class S3Storage(BlobStorage, DirectLinks):
    """`client` does the reads and writes; `link_client` signs presigned URLs (a client for
    S3_PUBLIC_ENDPOINT_URL when clients reach the store at another address than the API does)."""

    def __init__(self, client, bucket: str, part_size: int = DEFAULT_PART_BYTES,
                 link_client=None):
        self.client = client
        self.bucket = bucket
        self.part_size = part_size
        self.link_client = link_client or client

    def save(self, chunks: Iterable[bytes], filename: str) -> str:
        """Stores the chunks under a new random key and returns the key. `filename` is not
        stored: names stay in the file's metadata."""
        upload = _Upload(self.client, self.bucket, uuid.uuid4().hex, self.part_size)
        try:
            for piece in chunks:
                upload.write(piece)
            upload.complete()
        except BaseException as error:
            upload.abort()
            if _unavailable(error):
                raise _storage_down(error) from error
            raise
        return upload.key

    def open(self, blob_id: str) -> BinaryIO:
        try:
            head = self.client.head_object(Bucket=self.bucket, Key=blob_id)
        except Exception as error:
            if _error_code(error) in MISSING:
                raise NotFound("The file's content is gone") from None
            if _unavailable(error):
                raise _storage_down(error) from error
            raise
        reader = _RangeReader(self.client, self.bucket, blob_id, int(head["ContentLength"]))
        return io.BufferedReader(reader, buffer_size=READ_BUFFER_BYTES)

    def delete(self, blob_id: str) -> None:
        try:
            self.client.delete_object(Bucket=self.bucket, Key=blob_id)  # no error when missing
        except Exception as error:
            if _unavailable(error):
                raise _storage_down(error) from error
            raise

    def direct_url(self, blob_id: str, disposition: str, content_type: str,
                   expires_in_s: int) -> str:
        """A presigned GET URL (SigV4: S3 refuses it after `expires_in_s` seconds, or altered,
        with 403) whose response carries these Content-Disposition and Content-Type."""
        return self.link_client.generate_presigned_url(
            "get_object", ExpiresIn=expires_in_s,
            Params={"Bucket": self.bucket, "Key": blob_id,
                    "ResponseContentDisposition": disposition,
                    "ResponseContentType": content_type,
                    "ResponseCacheControl": "private, no-store"})



class S3Health:
    """`storage.s3` of /api/health: {status: up|down, bucket, error?}, from one HEAD of the
    bucket with `client` (give it short timeouts and a single attempt)."""

    def __init__(self, client, bucket: str):
        self.client = client
        self.bucket = bucket

    def __call__(self) -> dict:
        try:
            self.client.head_bucket(Bucket=self.bucket)
        except Exception as error:  # unreachable, no such bucket, refused credentials
            return {"status": "down", "bucket": self.bucket,
                    "error": _error_code(error) or type(error).__name__}
        return {"status": "up", "bucket": self.bucket}


class _Upload:
    """One object being written: a plain PUT if it fits one part, else a multipart upload."""

    def __init__(self, client, bucket: str, key: str, part_size: int):
        self.client = client
        self.bucket = bucket
        self.key = key
        self.part_size = part_size
        self.buffer = bytearray()
        self.upload_id: str | None = None
        self.parts: list[dict] = []

    def write(self, data: bytes) -> None:
        """Fills the part up to its size exactly, so it is sent without a copy."""
        view = memoryview(data)
        while view:
            room = self.part_size - len(self.buffer)
            self.buffer += view[:room]
            view = view[room:]
            if len(self.buffer) == self.part_size:
                part, self.buffer = self.buffer, bytearray()
                self._send_part(part)

    def complete(self) -> None:
        if self.upload_id is None:
            self.client.put_object(Bucket=self.bucket, Key=self.key, Body=self.buffer)
        else:
            if self.buffer:
                self._send_part(self.buffer)
            self.client.complete_multipart_upload(
                Bucket=self.bucket, Key=self.key, UploadId=self.upload_id,
                MultipartUpload={"Parts": self.parts})
        self.buffer = bytearray()

    def abort(self) -> None:
        """Leaves nothing: the parts sent are dropped, and an object that was completed after
        all (the answer lost on the way back) is deleted. Failures here are logged, not raised,
        so the error that stopped the upload is the one reported; a bucket lifecycle rule
        (AbortIncompleteMultipartUpload) catches whatever is still left."""
        self.buffer = bytearray()
        try:
            if self.upload_id is not None:
                self.client.abort_multipart_upload(Bucket=self.bucket, Key=self.key,
                                                   UploadId=self.upload_id)
            self.client.delete_object(Bucket=self.bucket, Key=self.key)
        except Exception:
            log.exception("could not clean up the failed upload of s3://%s/%s", self.bucket,
                          self.key)

    def _send_part(self, data: bytearray) -> None:
        if self.upload_id is None:
            self.upload_id = self.client.create_multipart_upload(
                Bucket=self.bucket, Key=self.key)["UploadId"]
        number = len(self.parts) + 1
        answer = self.client.upload_part(Bucket=self.bucket, Key=self.key,
                                         UploadId=self.upload_id, PartNumber=number, Body=data)
        self.parts.append({"PartNumber": number, "ETag": answer["ETag"]})


class _RangeReader(io.RawIOBase):
    """A seekable raw stream over an object, read with bounded ranged GETs: each window is read
    to its end (so its connection goes back to the pool), the next one twice as long while
    reading goes on in order (up to MAX_WINDOW_BYTES); after a seek elsewhere the window starts
    small again, as pypdf's jumps around a PDF want."""

    def __init__(self, client, bucket: str, key: str, length: int):
        self.client = client
        self.bucket = bucket
        self.key = key
        self.length = length
        self.position = 0
        self.body: Any = None  # botocore's StreamingBody of the open GET
        self.body_position = -1  # where the open GET's next byte is
        self.body_end = -1  # where the open GET's range ends (exclusive)
        self.window = MIN_WINDOW_BYTES

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self.position

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self.position, io.SEEK_END: self.length}[whence]
        self.position = max(0, base + offset)
        return self.position

    def readinto(self, buffer) -> int:
        if self.position >= self.length:
            return 0
        if self.body is None or self.body_position != self.position \
                or self.body_position >= self.body_end:
            self._open_window(in_order=self.body_position == self.position)
        piece = self.body.read(min(len(buffer), self.body_end - self.position))
        if not piece:
            raise OSError(f"s3://{self.bucket}/{self.key} ended at byte {self.position} of "
                          f"{self.length}")
        buffer[:len(piece)] = piece
        self.position += len(piece)
        self.body_position = self.position
        return len(piece)

    def close(self) -> None:
        self._close_body()
        super().close()

    def _open_window(self, in_order: bool) -> None:
        self._close_body()
        self.window = min(self.window * 2, MAX_WINDOW_BYTES) if in_order else MIN_WINDOW_BYTES
        end = min(self.position + self.window, self.length)
        answer = self.client.get_object(Bucket=self.bucket, Key=self.key,
                                        Range=f"bytes={self.position}-{end - 1}")
        self.body, self.body_position, self.body_end = answer["Body"], self.position, end

    def _close_body(self) -> None:
        if self.body is not None:
            self.body.close()
            self.body = None
