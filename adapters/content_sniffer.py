"""Content sniffing: the bytes of an upload must really be what its extension claims.

Binary formats are recognised by their signature in the first bytes (with `filetype` for the
formats it knows), so an `.exe` renamed `.pdf` or a `.png` that is not a PNG is refused. Text
formats must decode as UTF-8 (checked incrementally, chunk by chunk) and contain no NUL bytes;
JSON must also parse, which needs the whole document: it is held in memory, bounded by
MAX_FILE_SIZE.
"""
from __future__ import annotations

import codecs
import json
from collections.abc import Callable
from dataclasses import dataclass

import filetype

from entities.errors import UnsupportedMediaType
from use_cases.files.ports import ContentCheck, ContentSniffer

HEAD_BYTES = 8192  # what filetype inspects
ZIP = b"PK\x03\x04"
OLE2 = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
ZIP_MIME = "application/zip"
DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
PPTX = "application/vnd.openxmlformats-officedocument.presentationml.presentation"
OLE_MIMES = {"application/msword", "application/vnd.ms-excel", "application/vnd.ms-powerpoint"}


def _starts_with(*signatures: bytes) -> Callable[[bytes], bool]:
    return lambda head: head.startswith(signatures)


def _guessed_as(*mimes: str) -> Callable[[bytes], bool]:
    def check(head: bytes) -> bool:
        kind = filetype.guess(head)
        return kind is not None and kind.mime in mimes
    return check


def _container(signature: bytes, own: str, family: set[str]) -> Callable[[bytes], bool]:
    """A zip or OLE2 container; if filetype names the format, it must be this one."""
    def check(head: bytes) -> bool:
        if not head.startswith(signature):
            return False
        kind = filetype.guess(head)
        return kind is None or kind.mime == own or kind.mime not in family
    return check


OFFICE_ZIP = {DOCX, XLSX, PPTX, "application/epub+zip", "application/vnd.oasis.opendocument.text",
              "application/vnd.oasis.opendocument.spreadsheet"}


@dataclass(frozen=True)
class BinaryFormat:
    content_type: str
    matches: Callable[[bytes], bool]


BINARY: dict[str, BinaryFormat] = {
    ".pdf": BinaryFormat("application/pdf", _starts_with(b"%PDF-")),
    ".png": BinaryFormat("image/png", _guessed_as("image/png", "image/apng")),
    ".jpg": BinaryFormat("image/jpeg", _guessed_as("image/jpeg")),
    ".jpeg": BinaryFormat("image/jpeg", _guessed_as("image/jpeg")),
    ".gif": BinaryFormat("image/gif", _guessed_as("image/gif")),
    ".webp": BinaryFormat("image/webp", _guessed_as("image/webp")),
    ".docx": BinaryFormat(DOCX, _container(ZIP, DOCX, OFFICE_ZIP)),
    ".xlsx": BinaryFormat(XLSX, _container(ZIP, XLSX, OFFICE_ZIP)),
    ".pptx": BinaryFormat(PPTX, _container(ZIP, PPTX, OFFICE_ZIP)),
    ".zip": BinaryFormat(ZIP_MIME, _starts_with(ZIP)),
    ".doc": BinaryFormat("application/msword", _container(OLE2, "application/msword", OLE_MIMES)),
    ".xls": BinaryFormat("application/vnd.ms-excel",
                         _container(OLE2, "application/vnd.ms-excel", OLE_MIMES)),
}

TEXT: dict[str, str] = {
    ".txt": "text/plain",
    ".md": "text/markdown",
    ".markdown": "text/markdown",
    ".csv": "text/csv",
    ".json": "application/json",
}


def _refuse(extension: str, why: str) -> UnsupportedMediaType:
    return UnsupportedMediaType(f"The content does not match the '{extension}' extension",
                                {"file": [why]})


class _BinaryCheck(ContentCheck):
    def __init__(self, extension: str, fmt: BinaryFormat):
        self.extension = extension
        self.format = fmt
        self.head = bytearray()
        self.checked = False

    def feed(self, chunk: bytes) -> None:
        if self.checked:
            return
        self.head += chunk[: HEAD_BYTES - len(self.head)]
        if len(self.head) >= HEAD_BYTES:
            self._check()

    def finish(self) -> str:
        if not self.checked:
            self._check()
        return self.format.content_type

    def _check(self) -> None:
        if not self.format.matches(bytes(self.head)):
            raise _refuse(self.extension, f"Not a valid {self.extension} file.")
        self.checked = True
        self.head = bytearray()


class _TextCheck(ContentCheck):
    def __init__(self, extension: str, content_type: str):
        self.extension = extension
        self.content_type = content_type
        self.decoder = codecs.getincrementaldecoder("utf-8-sig")(errors="strict")
        self.keep: list[str] | None = [] if content_type == "application/json" else None

    def feed(self, chunk: bytes) -> None:
        self._decode(chunk, final=False)

    def finish(self) -> str:
        self._decode(b"", final=True)
        if self.keep is not None:
            try:
                json.loads("".join(self.keep))
            except (ValueError, RecursionError):  # RecursionError: nested deeper than Python parses
                raise _refuse(self.extension, "Not valid JSON.") from None
        return self.content_type

    def _decode(self, chunk: bytes, final: bool) -> None:
        try:
            text = self.decoder.decode(chunk, final)
        except UnicodeDecodeError:
            raise _refuse(self.extension, "Not UTF-8 text.") from None
        if "\x00" in text:
            raise _refuse(self.extension, "Text files cannot contain NUL bytes.")
        if self.keep is not None:
            self.keep.append(text)


class SignatureSniffer(ContentSniffer):
    def check(self, extension: str) -> ContentCheck:
        extension = extension.lower()
        if extension in TEXT:
            return _TextCheck(extension, TEXT[extension])
        if extension in BINARY:
            return _BinaryCheck(extension, BINARY[extension])
        raise UnsupportedMediaType(f"Files of type '{extension}' cannot be checked, so are refused")
