"""Fakes of the file ports (use_cases/files/ports.py), and `FileWorld`: the file use cases built
on them by bootstrap.files. File metadata, blobs and storage counters are the MongoDB
repositories over the world's in-memory (mongomock) database."""
from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import BinaryIO

from bootstrap.files import FileLimits, FileUseCases, build_files
from entities.errors import UnsupportedMediaType
from repositories.extracted_texts import MongoExtractedTextRepository
from repositories.file_storage import GridFSStorage
from repositories.files import MongoFileRepository
from repositories.released_blobs import MongoReleasedBlobs
from repositories.storage_usage import MongoStorageUsage
from tests.fakes.database import on_mongomock
from tests.fakes.identity import Identity
from tests.fakes.shared import FakeEventBus
from use_cases.chat.file_context import AttachedFiles
from use_cases.files.blob_stores import BlobStores
from use_cases.files.downloads import LINK_TTL
from use_cases.files.ingest import FilePolicy
from use_cases.files.ports import ContentCheck, ContentSniffer, LinkSigner, TextExtractor


class MongomockBlobStorage(GridFSStorage):
    """GridFSStorage (plain collections in the GridFS layout: mongomock runs it), counting the
    chunks uploads read in `chunks_read`, with what it holds as `blobs` (id -> bytes)."""

    def __init__(self, db):
        super().__init__(db)
        self.chunks_read = 0

    def save(self, chunks: Iterable[bytes], filename: str) -> str:
        return super().save(self._counted(chunks), filename)

    def _counted(self, chunks: Iterable[bytes]) -> Iterator[bytes]:
        for chunk in chunks:
            self.chunks_read += 1
            yield chunk

    @property
    def blobs(self) -> dict[str, bytes]:
        """Every blob with a file document or chunks left (an aborted upload must leave none)."""
        ids = set(self.files.distinct("_id")) | set(self.chunks.distinct("files_id"))
        return {str(blob_id): b"".join(bytes(chunk["data"]) for chunk in
                                       self.chunks.find({"files_id": blob_id}).sort("n", 1))
                for blob_id in ids}


class _PrefixCheck(ContentCheck):
    """Text is anything; '.png' must start with the PNG signature."""

    def __init__(self, extension: str):
        self.extension = extension
        self.head = b""

    def feed(self, chunk: bytes) -> None:
        self.head = (self.head + chunk)[:8]

    def finish(self) -> str:
        if self.extension == ".png":
            if not self.head.startswith(b"\x89PNG"):
                raise UnsupportedMediaType("Not a PNG")
            return "image/png"
        return {".pdf": "application/pdf", ".json": "application/json"}.get(self.extension,
                                                                            "text/plain")


class FakeContentSniffer(ContentSniffer):
    def check(self, extension: str) -> ContentCheck:
        return _PrefixCheck(extension)


class FakeLinkSigner(LinkSigner):
    """Readable tokens; only those starting with 'signed:' pass."""

    def sign(self, payload: dict) -> str:
        return "signed:" + json.dumps(payload)

    def load(self, token: str) -> dict | None:
        return json.loads(token.removeprefix("signed:")) if token.startswith("signed:") else None


class FakeTextExtractor(TextExtractor):
    """The text of text/* files."""

    def can_extract(self, content_type: str) -> bool:
        return content_type.startswith("text/")

    def extract(self, content_type: str, stream: BinaryIO, max_chars: int,
                tenant: str) -> tuple[str, bool]:
        text = stream.read().decode()
        return text[:max_chars], len(text) > max_chars


@dataclass
class FileWorld:
    """The file use cases on fakes, with the identity fakes for users and workspaces."""

    max_file_size: int = 1024
    quota: int = 4096
    identity: Identity = field(default_factory=Identity)
    events: FakeEventBus = field(default_factory=FakeEventBus)
    sniffer: ContentSniffer = field(default_factory=FakeContentSniffer)
    extensions: tuple[str, ...] = (".txt", ".png", ".json", "pdf")

    def __post_init__(self):
        self.repo = on_mongomock(MongoFileRepository, self.identity.db)
        self.storage = on_mongomock(MongomockBlobStorage, self.identity.db)
        self.usage = on_mongomock(MongoStorageUsage, self.identity.db)
        self.released = on_mongomock(MongoReleasedBlobs, self.identity.db)
        built = self.built(FakeTextExtractor())
        self.files = built.files
        self.downloads = built.file_downloads

    def built(self, extractor: TextExtractor, max_chars: int = 1000,
              max_image_bytes: int = 1024) -> FileUseCases:
        """The file area on this world's fakes, reading file texts with `extractor`."""
        policy = FilePolicy.of(max_file_size=self.max_file_size,
                               allowed_extensions=self.extensions, workspace_quota=self.quota)
        return build_files(
            file_repo=self.repo, storage=BlobStores({"gridfs": self.storage}, "gridfs"),
            storage_usage=self.usage, released_blobs=self.released, sniffer=self.sniffer,
            signer=FakeLinkSigner(), extractor=extractor,
            texts=on_mongomock(MongoExtractedTextRepository, self.identity.db),
            access=self.identity.access, events=self.events, audit=self.identity.audit,
            limits=FileLimits(policy=policy, link_ttl=LINK_TTL, direct_links=False,
                              context_max_chars=max_chars,
                              context_max_image_bytes=max_image_bytes, text_max_chars=100_000))

    def context(self, extractor: TextExtractor, max_chars: int = 1000,
                max_image_bytes: int = 1024) -> AttachedFiles:
        return self.built(extractor, max_chars, max_image_bytes).file_context
