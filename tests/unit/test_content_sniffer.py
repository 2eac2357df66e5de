"""Content sniffing: what the bytes are must match what the name says."""
import pytest

from adapters.content_sniffer import SignatureSniffer
from entities.errors import UnsupportedMediaType
from tests.support.file_samples import EXECUTABLE, office_zip, png_bytes


def sniff(extension: str, content: bytes, chunk_size: int = 7) -> str:
    check = SignatureSniffer().check(extension)
    for start in range(0, len(content), chunk_size):
        check.feed(content[start:start + chunk_size])
    return check.finish()


@pytest.mark.parametrize(("extension", "content", "content_type"), [
    (".pdf", b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n", "application/pdf"),
    (".png", png_bytes(), "image/png"),
    (".jpg", b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + bytes(64), "image/jpeg"),
    (".docx", office_zip("word/document.xml"),
     "application/vnd.openxmlformats-officedocument.wordprocessingml.document"),
    (".xlsx", office_zip("xl/workbook.xml"),
     "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"),
    (".txt", "Olá, açúcar — 日本語\n".encode(), "text/plain"),
    (".md", b"\xef\xbb\xbf# Title with a BOM\n", "text/markdown"),
    (".csv", b"a,b\n1,2\n", "text/csv"),
    (".json", '{"nome": "João", "n": [1, 2]}'.encode(), "application/json"),
])
def test_genuine_content_is_accepted_even_split_mid_character(extension, content, content_type):
    assert sniff(extension, content) == content_type


@pytest.mark.parametrize(("extension", "content"), [
    (".pdf", EXECUTABLE),
    (".png", EXECUTABLE),
    (".png", b"GIF89a\x01\x00\x01\x00" + bytes(32)),
    (".jpg", png_bytes()),
    (".docx", office_zip("xl/workbook.xml")),  # a spreadsheet named as a document
    (".docx", EXECUTABLE),
    (".txt", EXECUTABLE),
    (".txt", b"latin-1 \xe9t\xe9\n"),
    (".csv", b"a,b\x00\n"),
    (".json", b'{"a": '),
    (".json", b"not json"),
    (".json", b"[" * 100_000 + b"]" * 100_000),  # deeper than Python's parser goes
])
def test_content_that_is_not_what_its_name_says_is_refused(extension, content):
    with pytest.raises(UnsupportedMediaType):
        sniff(extension, content)


def test_a_disguised_binary_is_refused_on_its_first_bytes_not_at_the_end():
    check = SignatureSniffer().check(".pdf")

    with pytest.raises(UnsupportedMediaType):
        check.feed(EXECUTABLE + bytes(8192))


def test_types_it_cannot_check_are_refused():
    with pytest.raises(UnsupportedMediaType):
        SignatureSniffer().check(".exe")
