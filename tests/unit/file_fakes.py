"""In-memory fakes of the file ports, and `FileWorld`: the file use cases built on them by
bootstrap.files."""
from __future__ import annotations

import io
import json
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import BinaryIO

from bootstrap.files import FileLimits, FileUseCases, build_files
from entities.clock import utcnow
from entities.errors import NotFound, UnsupportedMediaType
from entities.file import File, FileQuery, FileVersion
from entities.pagination import Page, PageRequest
from tests.unit.fakes import FakeEventBus, Identity, new_id, page_of
from use_cases.chat.file_context import AttachedFiles
from use_cases.files.downloads import LINK_TTL
from use_cases.files.ingest import FilePolicy
from use_cases.files.ports import (
    BlobStorage,
    ContentCheck,
    ContentSniffer,
    FileRepository,
    LinkSigner,
    StorageUsage,
    TextExtractor,
)


class FakeFileRepository(FileRepository):
    def __init__(self):
        self.rows: dict[str, File] = {}

    def add(self, file: File) -> File:
        stored = replace(file, id=new_id(), versions=list(file.versions))
        self.rows[stored.id] = stored
        return replace(stored)

    def get(self, file_id: str, include_deleted: bool = False) -> File | None:
        row = self.rows.get(file_id)
        if row is None or (row.deleted_at is not None and not include_deleted):
            return None
        return replace(row, versions=list(row.versions))

    def search(self, query: FileQuery, page: PageRequest) -> Page[File]:
        rows = [row for row in self.rows.values() if row.workspace_id == query.workspace_id
                and (row.deleted_at is not None) == query.deleted]
        return page_of(sorted(rows, key=lambda row: row.created_at, reverse=True), page)

    def update(self, file_id: str, **changes) -> File | None:
        if self.get(file_id) is None:
            return None
        self.rows[file_id] = replace(self.rows[file_id], **changes, updated_at=utcnow())
        return self.get(file_id)

    def add_version(self, file_id: str, expected_version: int, version: FileVersion) -> File | None:
        row = self.get(file_id)
        if row is None or row.version != expected_version:
            return None
        return self.update(file_id, versions=[*row.versions, version], version=version.number,
                           filename=version.filename, content_type=version.content_type,
                           size=version.size, sha256=version.sha256)

    def set_deleted(self, file_id: str, deleted_at: datetime | None) -> File | None:
        if file_id not in self.rows:
            return None
        self.rows[file_id] = replace(self.rows[file_id], deleted_at=deleted_at)
        return self.get(file_id, include_deleted=True)

    def deleted_before(self, cutoff: datetime, limit: int) -> list[File]:
        return [replace(row) for row in self.rows.values()
                if row.deleted_at is not None and row.deleted_at <= cutoff][:limit]

    def remove(self, file_id: str) -> bool:
        row = self.rows.get(file_id)
        if row is None or row.deleted_at is None:
            return False
        del self.rows[file_id]
        return True


class FakeBlobStorage(BlobStorage):
    def __init__(self):
        self.blobs: dict[str, bytes] = {}
        self.chunks_read = 0

    def save(self, chunks: Iterable[bytes], filename: str) -> str:
        data = bytearray()
        for chunk in chunks:  # an exception leaves nothing stored, like GridFS's abort
            self.chunks_read += 1
            data += chunk
        blob_id = new_id()
        self.blobs[blob_id] = bytes(data)
        return blob_id

    def open(self, blob_id: str) -> BinaryIO:
        if blob_id not in self.blobs:
            raise NotFound("The file's content is gone")
        return io.BytesIO(self.blobs[blob_id])

    def delete(self, blob_id: str) -> None:
        self.blobs.pop(blob_id, None)


class FakeStorageUsage(StorageUsage):
    def __init__(self):
        self.bytes: dict[str, int] = {}

    def used(self, workspace_id: str) -> int:
        return self.bytes.get(workspace_id, 0)

    def reserve(self, workspace_id: str, nbytes: int, quota: int) -> bool:
        if self.used(workspace_id) + nbytes > quota:
            return False
        self.bytes[workspace_id] = self.used(workspace_id) + nbytes
        return True

    def release(self, workspace_id: str, nbytes: int) -> None:
        self.bytes[workspace_id] = self.used(workspace_id) - nbytes


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


class FakeSniffer(ContentSniffer):
    def check(self, extension: str) -> ContentCheck:
        return _PrefixCheck(extension)


class JsonSigner(LinkSigner):
    """Readable tokens; only those starting with 'signed:' pass."""

    def sign(self, payload: dict) -> str:
        return "signed:" + json.dumps(payload)

    def load(self, token: str) -> dict | None:
        return json.loads(token.removeprefix("signed:")) if token.startswith("signed:") else None


class PlainText(TextExtractor):
    def can_extract(self, content_type: str) -> bool:
        return content_type.startswith("text/")

    def extract(self, content_type: str, stream: BinaryIO, max_chars: int) -> tuple[str, bool]:
        text = stream.read().decode()
        return text[:max_chars], len(text) > max_chars


@dataclass
class FileWorld:
    """The file use cases on fakes, with the identity fakes for users and workspaces."""

    max_file_size: int = 1024
    quota: int = 4096
    identity: Identity = field(default_factory=Identity)
    repo: FakeFileRepository = field(default_factory=FakeFileRepository)
    storage: FakeBlobStorage = field(default_factory=FakeBlobStorage)
    usage: FakeStorageUsage = field(default_factory=FakeStorageUsage)
    events: FakeEventBus = field(default_factory=FakeEventBus)
    sniffer: ContentSniffer = field(default_factory=FakeSniffer)
    extensions: tuple[str, ...] = (".txt", ".png", ".json", "pdf")

    def __post_init__(self):
        built = self.built(PlainText())
        self.files = built.files
        self.downloads = built.file_downloads

    def built(self, extractor: TextExtractor, max_chars: int = 1000,
              max_image_bytes: int = 1024) -> FileUseCases:
        """The file area on this world's fakes, reading file texts with `extractor`."""
        policy = FilePolicy.of(max_file_size=self.max_file_size,
                               allowed_extensions=self.extensions, workspace_quota=self.quota)
        return build_files(
            file_repo=self.repo, storage=self.storage, storage_usage=self.usage,
            sniffer=self.sniffer, signer=JsonSigner(), extractor=extractor,
            access=self.identity.access, events=self.events, audit=self.identity.audit,
            limits=FileLimits(policy=policy, link_ttl=LINK_TTL, context_max_chars=max_chars,
                              context_max_image_bytes=max_image_bytes))

    def context(self, extractor: TextExtractor, max_chars: int = 1000,
                max_image_bytes: int = 1024) -> AttachedFiles:
        return self.built(extractor, max_chars, max_image_bytes).file_context
