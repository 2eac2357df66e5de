"""Text of stored documents for a model's context: UTF-8 text formats as they are, PDFs through
pypdf page by page, stopping as soon as the wanted number of characters is reached."""
from __future__ import annotations

import codecs
import logging
from typing import BinaryIO

from pypdf import PdfReader
from pypdf.errors import PyPdfError

from use_cases.files.ports import TextExtractor

log = logging.getLogger(__name__)

TEXT_TYPES = {"text/plain", "text/markdown", "text/csv", "application/json"}
PDF = "application/pdf"
READ_BYTES = 64 * 1024


class DocumentText(TextExtractor):
    def can_extract(self, content_type: str) -> bool:
        return content_type in TEXT_TYPES or content_type == PDF

    def extract(self, content_type: str, stream: BinaryIO, max_chars: int) -> tuple[str, bool]:
        if content_type == PDF:
            return _pdf_text(stream, max_chars)
        return _plain_text(stream, max_chars)


def _plain_text(stream: BinaryIO, max_chars: int) -> tuple[str, bool]:
    decoder = codecs.getincrementaldecoder("utf-8-sig")(errors="replace")
    pieces: list[str] = []
    length = 0
    while length <= max_chars:
        chunk = stream.read(READ_BYTES)
        text = decoder.decode(chunk, final=not chunk)
        pieces.append(text)
        length += len(text)
        if not chunk:
            break
    text = "".join(pieces)
    return text[:max_chars], len(text) > max_chars


def _pdf_text(stream: BinaryIO, max_chars: int) -> tuple[str, bool]:
    try:
        reader = PdfReader(stream)
        if reader.is_encrypted:
            return "[encrypted PDF: its text cannot be read]", False
        pages: list[str] = []
        length = 0
        for page in reader.pages:
            text = (page.extract_text() or "").strip()
            if text:
                pages.append(text)
                length += len(text) + 2
            if length > max_chars:
                break
    except (PyPdfError, ValueError, KeyError, TypeError) as error:
        log.warning("unreadable PDF", extra={"fields": {"error": type(error).__name__}})
        return "[this PDF's text could not be read]", False
    text = "\n\n".join(pages)
    return text[:max_chars], len(text) > max_chars
