"""Attached files as model input: document text within a budget, images as data URLs."""
import base64
from dataclasses import dataclass, field

import pytest

from adapters.content_sniffer import SignatureSniffer
from adapters.sandbox import ProcessSandbox
from adapters.text_extraction import DocumentText
from entities.errors import NotFound
from tests.fakes.files import FileWorld
from tests.support.file_samples import office_zip, pdf_with_text, png_bytes
from tests.support.sandbox import SANDBOX
from use_cases.files.files import UploadDetails
from use_cases.files.ports import ContentSniffer


@dataclass
class RealTypesWorld(FileWorld):
    """FileWorld whose uploads are sniffed for real, so content types are the true ones."""

    sniffer: ContentSniffer = field(default_factory=SignatureSniffer)
    extensions: tuple[str, ...] = (".txt", ".md", ".csv", ".json", ".pdf", ".png", ".docx")


@pytest.fixture
def world():
    return RealTypesWorld(max_file_size=1_000_000, quota=10_000_000)


@pytest.fixture
def alice(world):
    return world.identity.actor("alice@example.com")


def attach(world, actor, name: str, content: bytes) -> str:
    return world.files.upload(actor, UploadDetails(), name, [content]).id


def test_text_formats_and_pdfs_become_text_parts(world, alice):
    workspace_id = world.identity.personal_workspace(alice)
    ids = [attach(world, alice, "notes.md", b"# Plan\nShip on Friday"),
           attach(world, alice, "table.csv", b"city,temp\nLisbon,21\n"),
           attach(world, alice, "data.json", b'{"answer": 42}'),
           attach(world, alice, "report.pdf",
                  pdf_with_text(["Revenue grew 12 percent"], ["Costs fell"]))]

    context = world.context(DocumentText(SANDBOX), max_chars=4000)
    parts = context.for_message(alice.user_id, workspace_id, ids)

    texts = [part["text"] for part in parts]
    assert all(part["type"] == "text" for part in parts)
    assert texts[0] == "[Attached file: notes.md]\n# Plan\nShip on Friday"
    assert "Lisbon,21" in texts[1] and '"answer": 42' in texts[2]
    assert texts[3].startswith("[Attached file: report.pdf]\n")
    assert "Revenue grew 12 percent" in texts[3] and "Costs fell" in texts[3]


def test_long_documents_are_trimmed_to_share_the_budget(world, alice):
    workspace_id = world.identity.personal_workspace(alice)
    ids = [attach(world, alice, "short.txt", b"tiny"),
           attach(world, alice, "long.txt", b"x" * 50_000),
           attach(world, alice, "long.pdf", pdf_with_text(*[["y" * 80] * 40] * 5))]

    parts = world.context(DocumentText(SANDBOX), max_chars=3000).for_message(alice.user_id,
                                                                       workspace_id, ids)

    assert sum(len(part["text"]) for part in parts) <= 3000
    assert parts[0]["text"].endswith("tiny")
    assert parts[1]["text"].endswith("[... truncated to fit the context]")
    assert parts[2]["text"].endswith("[... truncated to fit the context]")
    assert len(parts[2]["text"]) > 1000  # what the short file left over passed on


def test_images_become_data_url_parts_and_big_ones_a_note(world, alice):
    workspace_id = world.identity.personal_workspace(alice)
    image = png_bytes()
    small = attach(world, alice, "pixel.png", image)
    big = attach(world, alice, "big.png", image + bytes(2048))

    parts = world.context(DocumentText(SANDBOX), max_image_bytes=1024).for_message(
        alice.user_id, workspace_id, [small, big])

    assert parts[0] == {"type": "image_url", "image_url": {
        "url": "data:image/png;base64," + base64.b64encode(image).decode()}}
    assert parts[1]["type"] == "text" and "big.png" in parts[1]["text"]


def test_files_without_text_are_named_not_dumped(world, alice):
    workspace_id = world.identity.personal_workspace(alice)
    file_id = attach(world, alice, "memo.docx", office_zip("word/document.xml"))

    parts = world.context(DocumentText(SANDBOX)).for_message(alice.user_id, workspace_id, [file_id])

    assert parts == [{"type": "text",
                      "text": "[Attached file: memo.docx — its content cannot be read as text]"}]


def test_files_of_another_workspace_or_user_are_not_found(world, alice):
    mallory = world.identity.actor("mallory@example.com")
    file_id = attach(world, alice, "secret.txt", b"secret")
    context = world.context(DocumentText(SANDBOX))

    with pytest.raises(NotFound):
        context.for_message(mallory.user_id, world.identity.personal_workspace(mallory), [file_id])
    with pytest.raises(NotFound):
        context.for_message(mallory.user_id, world.identity.personal_workspace(alice), [file_id])
    assert context.for_message(mallory.user_id, "any", []) == []


class CountingExtractor(DocumentText):
    """DocumentText that counts the documents it reads."""

    def __init__(self, **limits):
        super().__init__(SANDBOX, **limits)
        self.reads = 0

    def extract(self, content_type, stream, max_chars, tenant):
        self.reads += 1
        return super().extract(content_type, stream, max_chars, tenant)


def test_a_versions_text_is_read_once_and_kept_for_every_later_message(world, alice):
    """Issue 15 item 4: the text was extracted again for every message it was attached to."""
    workspace_id = world.identity.personal_workspace(alice)
    file_id = attach(world, alice, "report.pdf", pdf_with_text(["Revenue grew"], ["Costs fell"]))
    extractor = CountingExtractor()
    context = world.context(extractor, max_chars=4000)
    first = context.for_message(alice.user_id, workspace_id, [file_id])
    again = context.for_message(alice.user_id, workspace_id, [file_id, file_id])
    assert first == again and "Costs fell" in first[0]["text"]
    assert extractor.reads == 1

    world.files.add_version(alice, file_id, "report.pdf", [pdf_with_text(["New figures"])])
    assert "New figures" in context.for_message(alice.user_id, workspace_id, [file_id])[0]["text"]
    assert extractor.reads == 2


def test_a_document_over_the_limits_becomes_a_note_and_is_not_read_again(world, alice):
    workspace_id = world.identity.personal_workspace(alice)
    file_id = attach(world, alice, "huge.pdf", pdf_with_text(["x"]))
    extractor = CountingExtractor()
    extractor.sandbox = ProcessSandbox(workers=1, timeout_s=0)  # no time at all: over the limit
    context = world.context(extractor)
    for _ in range(2):
        (part,) = context.for_message(alice.user_id, workspace_id, [file_id])
        assert part["text"].startswith("[Attached file: huge.pdf — its text could not be read")
    assert extractor.reads == 1
