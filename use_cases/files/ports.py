"""Interfaces the file use cases need: metadata, bytes, storage quotas, content checks,
signed links and text extraction.

Real implementations live in repositories/ and adapters/; unit tests use in-memory fakes.
"""
from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable
from datetime import datetime
from typing import BinaryIO

from entities.file import ExtractedText, File, FileQuery, FileVersion
from entities.pagination import Page, PageRequest


class FileRepository(ABC):
    """File metadata; the bytes of every version live in BlobStorage."""

    @abstractmethod
    def add(self, file: File) -> File: ...

    @abstractmethod
    def get(self, file_id: str, include_deleted: bool = False) -> File | None: ...

    @abstractmethod
    def search(self, query: FileQuery, page: PageRequest) -> Page[File]:
        """Newest first."""

    @abstractmethod
    def update(self, file_id: str, **changes) -> File | None:
        """Changes a live file's metadata."""

    @abstractmethod
    def add_version(self, file_id: str, expected_version: int, version: FileVersion) -> File | None:
        """Makes `version` current if the live file is still at `expected_version`, else None."""

    @abstractmethod
    def set_deleted(self, file_id: str, deleted_at: datetime | None) -> File | None: ...

    @abstractmethod
    def deleted_before(self, cutoff: datetime, limit: int) -> list[File]:
        """Files deleted at or before `cutoff`."""

    @abstractmethod
    def remove(self, file_id: str) -> File | None:
        """Removes a deleted file: the file as it was when removed, returned only to the one
        caller that removed it (so its bytes are released once, with the blob ids it held
        then); None for a live, unknown or already removed file."""

    @abstractmethod
    def every_file(self, after_id: str | None, limit: int) -> list[File]:
        """Up to `limit` files, deleted ones too, in id order, after `after_id` (None: from
        the first): a walk over every file that a restart can resume."""

    @abstractmethod
    def replace_blob(self, file_id: str, number: int, old_blob_id: str, new_blob_id: str) -> bool:
        """Points version `number` of the file (deleted or not) at `new_blob_id` if it still
        points at `old_blob_id`; False otherwise (the file was purged, or another mover won)."""


class BlobStorage(ABC):
    """The bytes of files, written and read in chunks (never whole in memory)."""

    @abstractmethod
    def save(self, chunks: Iterable[bytes], filename: str) -> str:
        """Stores the chunks and returns the blob id; if iterating them raises, nothing stays."""

    @abstractmethod
    def open(self, blob_id: str) -> BinaryIO:
        """A readable, seekable stream of the blob; NotFound when it is gone."""

    @abstractmethod
    def delete(self, blob_id: str) -> None:
        """Removes the blob; nothing happens when it is already gone."""


class DirectLinks(ABC):
    """Links a client follows to read a blob from its storage directly (S3 presigned GET URLs),
    without the service in the way."""

    @abstractmethod
    def direct_url(self, blob_id: str, disposition: str, content_type: str,
                   expires_in_s: int) -> str:
        """A URL that serves the blob's bytes with these Content-Disposition and Content-Type
        headers until `expires_in_s` seconds from now, and not after."""


class ReleasedBlobs(ABC):
    """Blobs no file points at any more (their bytes were moved to another storage), kept a
    grace period for the reads that had started on them, then deleted."""

    @abstractmethod
    def add(self, blob_id: str, released_at: datetime) -> None: ...

    @abstractmethod
    def due(self, cutoff: datetime, limit: int) -> list[str]:
        """Blob ids released at or before `cutoff`, oldest first."""

    @abstractmethod
    def forget(self, blob_id: str) -> None:
        """Called once the blob is deleted."""


class StorageUsage(ABC):
    """Bytes stored per workspace, kept as a counter so quota checks cost one lookup."""

    @abstractmethod
    def used(self, workspace_id: str) -> int: ...

    @abstractmethod
    def reserve(self, workspace_id: str, nbytes: int, quota: int) -> bool:
        """Atomically adds `nbytes` unless the total would pass `quota`; False then."""

    @abstractmethod
    def release(self, workspace_id: str, nbytes: int) -> None: ...


class ContentCheck(ABC):
    """Checks, chunk by chunk, that uploaded bytes really are of the type their name claims."""

    @abstractmethod
    def feed(self, chunk: bytes) -> None:
        """Raises UnsupportedMediaType as soon as the bytes cannot be of the claimed type."""

    @abstractmethod
    def finish(self) -> str:
        """The content type to store; UnsupportedMediaType if the whole content does not match."""


class ContentSniffer(ABC):
    @abstractmethod
    def check(self, extension: str) -> ContentCheck:
        """A fresh check for content named with `extension` ('.pdf')."""


class LinkSigner(ABC):
    @abstractmethod
    def sign(self, payload: dict) -> str: ...

    @abstractmethod
    def load(self, token: str) -> dict | None:
        """The signed payload, or None when the token was altered or not signed by us."""


class ExtractedTextRepository(ABC):
    """The text of file versions, by the version's blob id (see DocumentTexts)."""

    @abstractmethod
    def get(self, blob_id: str) -> ExtractedText | None: ...

    @abstractmethod
    def put(self, blob_id: str, text: ExtractedText) -> None:
        """Stores (or replaces) the text of a version."""

    @abstractmethod
    def delete(self, blob_ids: list[str]) -> None: ...


class TextExtractor(ABC):
    @abstractmethod
    def can_extract(self, content_type: str) -> bool: ...

    @abstractmethod
    def extract(self, content_type: str, stream: BinaryIO, max_chars: int,
                tenant: str) -> tuple[str, bool]:
        """At most `max_chars` of the document's text, and whether there was more. `tenant`:
        the workspace whose document it is (resources are shared fairly between tenants)."""
