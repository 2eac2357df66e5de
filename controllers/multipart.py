"""Reading a multipart/form-data upload from the request stream, never whole in memory.

werkzeug's sans-IO decoder turns the body into events as it arrives. Text fields are small and
kept; the one file part goes to a spooled temporary file (memory up to SPOOL_MEMORY_BYTES, disk
beyond) whose size is counted as it is written, so an oversized file is refused with 413 as soon
as it passes the limit, whatever Content-Length claimed. Spooling lets the fields come before or
after the file: the use case runs once the whole form is known.
"""
from __future__ import annotations

import hashlib
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import BinaryIO

from flask import Request
from werkzeug.exceptions import BadRequest
from werkzeug.sansio.multipart import Data, Epilogue, Field, File, MultipartDecoder, NeedData

from entities.errors import ValidationFailed
from use_cases.files.ingest import too_large

READ_BYTES = 64 * 1024
SPOOL_MEMORY_BYTES = 1024 * 1024
MAX_FIELD_BYTES = 64 * 1024
MAX_PARTS = 32


@dataclass
class UploadedFile:
    filename: str
    content: BinaryIO
    size: int = 0

    def chunks(self) -> Iterator[bytes]:
        self.content.seek(0)
        while chunk := self.content.read(READ_BYTES):
            yield chunk

    def sha256(self) -> str:
        """The hex SHA-256 of the file's bytes (an idempotent upload's fingerprint)."""
        digest = hashlib.sha256()
        for chunk in self.chunks():
            digest.update(chunk)
        return digest.hexdigest()


@dataclass
class UploadForm:
    fields: dict[str, str] = field(default_factory=dict)
    file: UploadedFile | None = None

    def __enter__(self) -> UploadForm:
        return self

    def __exit__(self, *exc) -> None:
        if self.file is not None:
            self.file.content.close()


class _FieldPart:
    def __init__(self, name: str, keep: bool = True):
        self.name = name
        self.keep = keep  # False for a file input sent with no file chosen
        self.data = bytearray()

    def write(self, data: bytes) -> None:
        self.data += data
        if len(self.data) > MAX_FIELD_BYTES:
            raise ValidationFailed("Form field too long",
                                   {self.name: [f"Longer than {MAX_FIELD_BYTES} bytes."]})


class _FilePart:
    def __init__(self, filename: str, max_bytes: int):
        spool = tempfile.SpooledTemporaryFile(SPOOL_MEMORY_BYTES)  # noqa: SIM115 - the form closes it
        self.file = UploadedFile(filename, spool)
        self.max_bytes = max_bytes

    def write(self, data: bytes) -> None:
        self.file.size += len(data)
        if self.file.size > self.max_bytes:
            raise too_large(self.max_bytes)
        self.file.content.write(data)


def _boundary(request: Request) -> bytes:
    if request.mimetype != "multipart/form-data":
        raise BadRequest("Expected a multipart/form-data body")
    boundary = request.mimetype_params.get("boundary", "")
    if not boundary:
        raise BadRequest("The multipart body has no boundary")
    return boundary.encode("latin-1", "replace")


def read_upload(request: Request, max_file_bytes: int, file_field: str = "file") -> UploadForm:
    """The form's text fields and its file (spooled), with the file's size limit enforced."""
    form = UploadForm()
    try:
        _read_into(form, request, max_file_bytes, file_field)
    except BaseException:
        form.__exit__()
        raise
    return form


def _read_into(form: UploadForm, request: Request, max_file_bytes: int, file_field: str) -> None:
    decoder = MultipartDecoder(_boundary(request), max_form_memory_size=SPOOL_MEMORY_BYTES,
                               max_parts=MAX_PARTS)
    stream = request.stream
    part: _FieldPart | _FilePart | None = None
    while True:
        data = stream.read(READ_BYTES)
        decoder.receive_data(data or None)
        try:
            event = decoder.next_event()
            while not isinstance(event, NeedData | Epilogue):
                if isinstance(event, Field | File) and not event.name:
                    raise BadRequest("A multipart part has no name")
                if isinstance(event, File) and event.filename:
                    part = _start_file(form, event, file_field, max_file_bytes)
                elif isinstance(event, Field | File):
                    part = _FieldPart(event.name, keep=isinstance(event, Field))
                elif isinstance(event, Data) and part is not None:
                    part.write(event.data)
                    if not event.more_data:
                        _finish(form, part)
                        part = None
                event = decoder.next_event()
        except ValueError:
            raise BadRequest("Malformed multipart body") from None
        if isinstance(event, Epilogue):
            return
        if not data:
            raise BadRequest("The multipart body ended before its closing boundary")


def _start_file(form: UploadForm, event: File, file_field: str, max_bytes: int) -> _FilePart:
    if event.name != file_field:
        raise ValidationFailed("Unexpected file field", {event.name: ["Unknown field."]})
    if form.file is not None:
        raise ValidationFailed("Only one file per upload", {file_field: ["Send a single file."]})
    part = _FilePart(event.filename, max_bytes)
    form.file = part.file
    return part


def _finish(form: UploadForm, part: _FieldPart | _FilePart) -> None:
    if isinstance(part, _FilePart) or not part.keep:
        return
    if part.name in form.fields:
        raise ValidationFailed("Repeated form field", {part.name: ["Send this field once."]})
    form.fields[part.name] = part.data.decode("utf-8", "replace")
