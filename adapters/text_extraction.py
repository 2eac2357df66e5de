"""Text of stored documents for a model's context: UTF-8 text formats as they are, PDFs through
pypdf in a ProcessSandbox worker.

Plain text is decoded here, streaming, and reading stops at `max_chars`. A PDF is parsed in a
worker, page by page, stopping at `max_chars`, at `max_pages` pages, or after `soft_time_s`
seconds (what was read so far is kept, marked truncated); a single page that runs past the
sandbox's own limit ends its worker, and the document is reported as over the limit.
"""
from __future__ import annotations

import codecs
import io
import logging
import time
from typing import BinaryIO

from pypdf import PdfReader
from pypdf.errors import PyPdfError

from adapters.sandbox import ProcessSandbox
from entities.errors import PayloadTooLarge
from use_cases.files.ports import TextExtractor

log = logging.getLogger(__name__)

TEXT_TYPES = {"text/plain", "text/markdown", "text/csv", "application/json"}
PDF = "application/pdf"
READ_BYTES = 64 * 1024


class DocumentText(TextExtractor):
    def __init__(self, sandbox: ProcessSandbox, max_pages: int = 500, soft_time_s: float = 5.0,
                 max_pdf_bytes: int = 50 * 1024 * 1024):
        self.sandbox = sandbox
        self.max_pages = max_pages
        self.soft_time_s = soft_time_s
        self.max_pdf_bytes = max_pdf_bytes

    def can_extract(self, content_type: str) -> bool:
        return content_type in TEXT_TYPES or content_type == PDF

    def extract(self, content_type: str, stream: BinaryIO, max_chars: int,
                tenant: str) -> tuple[str, bool]:
        if content_type != PDF:
            return _plain_text(stream, max_chars)
        data = stream.read(self.max_pdf_bytes + 1)
        if len(data) > self.max_pdf_bytes:
            raise PayloadTooLarge(f"PDFs over {self.max_pdf_bytes} bytes are not read for text")
        return self.sandbox.call(pdf_text_in_worker, data, max_chars, self.max_pages,
                                 self.soft_time_s, tenant=tenant, what="reading the PDF's text")


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


def pdf_text_in_worker(data: bytes, max_chars: int, max_pages: int,
                       soft_time_s: float) -> tuple[str, bool]:
    """The sandbox task: the PDF's text and whether some was left out."""
    stop_at = time.monotonic() + soft_time_s
    try:
        reader = PdfReader(io.BytesIO(data))
        if reader.is_encrypted:
            return "[encrypted PDF: its text cannot be read]", False
        pages: list[str] = []
        length, truncated = 0, False
        for number, page in enumerate(reader.pages):
            if number >= max_pages or length > max_chars or time.monotonic() > stop_at:
                truncated = True
                break
            text = (page.extract_text() or "").strip()
            if text:
                pages.append(text)
                length += len(text) + 2
    except (PyPdfError, ValueError, KeyError, TypeError, AttributeError) as error:
        log.warning("unreadable PDF", extra={"fields": {"error": type(error).__name__}})
        return "[this PDF's text could not be read]", False
    text = "\n\n".join(pages)
    return text[:max_chars], truncated or len(text) > max_chars
