"""Turning an upload's chunks into a stored blob that is checked, hashed, sized and paid for.

The chunks flow straight into storage; the size limit, the quota headroom and the content check
are enforced chunk by chunk, so an oversized or disguised upload is stopped as soon as it shows.
"""
from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime

from entities.errors import (
    DomainError,
    PayloadTooLarge,
    QuotaExceeded,
    UnsupportedMediaType,
    ValidationFailed,
)
from entities.file import FileVersion, extension_of, safe_filename
from use_cases.files.ports import BlobStorage, ContentCheck, ContentSniffer, StorageUsage


@dataclass(frozen=True)
class FilePolicy:
    max_file_size: int
    allowed_extensions: frozenset[str]
    workspace_quota: int

    @classmethod
    def of(cls, max_file_size: int, allowed_extensions: Iterable[str],
           workspace_quota: int) -> FilePolicy:
        extensions = frozenset("." + e.strip().lower().lstrip(".") for e in allowed_extensions
                               if e.strip())
        return cls(max_file_size, extensions, workspace_quota)


def too_large(max_bytes: int) -> PayloadTooLarge:
    return PayloadTooLarge(f"The file is larger than the limit of {max_bytes} bytes",
                           {"max_bytes": max_bytes})


class _Meter:
    """Counts, hashes and content-checks chunks on their way to storage."""

    def __init__(self, check: ContentCheck, max_size: int, headroom: int):
        self.check = check
        self.max_size = max_size
        self.headroom = headroom
        self.size = 0
        self.digest = hashlib.sha256()

    def through(self, chunks: Iterable[bytes]) -> Iterator[bytes]:
        for chunk in chunks:
            self.size += len(chunk)
            if self.size > self.max_size:
                raise too_large(self.max_size)
            if self.size > self.headroom:
                raise QuotaExceeded("The workspace's storage quota would be exceeded")
            self.digest.update(chunk)
            self.check.feed(chunk)
            yield chunk


class FileIngest:
    def __init__(self, storage: BlobStorage, usage: StorageUsage, sniffer: ContentSniffer,
                 policy: FilePolicy):
        self.storage = storage
        self.usage = usage
        self.sniffer = sniffer
        self.policy = policy

    def check_name(self, filename: str) -> str:
        """The sanitised name, if its extension is allowed (else UnsupportedMediaType)."""
        name = safe_filename(filename)
        extension = extension_of(name)
        if extension not in self.policy.allowed_extensions:
            raise UnsupportedMediaType(
                f"Files of type '{extension or 'no extension'}' are not allowed",
                {"allowed_extensions": sorted(self.policy.allowed_extensions)})
        return name

    def store(self, workspace_id: str, filename: str, chunks: Iterable[bytes], uploaded_by: str,
              number: int, now: Callable[[], datetime]) -> FileVersion:
        """Stores the bytes as version `number` and charges them to the workspace's quota."""
        name = self.check_name(filename)
        quota = self.policy.workspace_quota
        headroom = quota - self.usage.used(workspace_id)
        if headroom <= 0:
            raise QuotaExceeded("The workspace's storage quota is used up",
                                {"quota_bytes": quota})
        meter = _Meter(self.sniffer.check(extension_of(name)), self.policy.max_file_size, headroom)
        blob_id = self.storage.save(meter.through(chunks), name)
        try:
            if meter.size == 0:
                raise ValidationFailed("The file is empty", {"file": ["The file is empty."]})
            content_type = meter.check.finish()
            if not self.usage.reserve(workspace_id, meter.size, quota):
                raise QuotaExceeded("The workspace's storage quota would be exceeded",
                                    {"quota_bytes": quota})
        except DomainError:
            self.storage.delete(blob_id)
            raise
        return FileVersion(number=number, blob_id=blob_id, filename=name,
                           content_type=content_type, size=meter.size,
                           sha256=meter.digest.hexdigest(), uploaded_by=uploaded_by,
                           created_at=now())

    def discard(self, workspace_id: str, versions: Iterable[FileVersion]) -> None:
        """Deletes the versions' bytes and gives their space back to the workspace."""
        versions = list(versions)
        for version in versions:
            self.storage.delete(version.blob_id)
        self.usage.release(workspace_id, sum(v.size for v in versions))
