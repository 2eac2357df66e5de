"""Moving the bytes of every file version from one storage to another (GridFS -> S3 and back)
while the service keeps running (`flask move-files`).

Each version is copied on its own: read from where its blob is, hashed while it is written to
the target, read back from the target and hashed again; only when both hashes equal the sha256
recorded at upload does the file point at the copy (an atomic compare-and-set on that one
version's blob id). The old blob is then released, not deleted: reads that opened it before the
switch (a download under way, a chat reading an attachment) finish within the grace period,
after which `release_due` deletes it. Progress lives in the file documents themselves (a
version points at the target or not), so an interrupted run resumes by running again: moved
versions are skipped, a half-written copy was removed by the storage's save, and a copy made
but not yet pointed at is removed before the error propagates.
"""
from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import BinaryIO

from entities.clock import utcnow
from entities.errors import NotFound
from entities.file import File, FileVersion
from use_cases.files.blob_stores import BlobStores
from use_cases.files.ports import ExtractedTextRepository, FileRepository, ReleasedBlobs

log = logging.getLogger(__name__)

FILES_PER_BATCH = 100
RELEASES_PER_BATCH = 100
READ_BYTES = 256 * 1024


@dataclass
class MoveReport:
    moved: int = 0  # versions now in the target storage
    already_there: int = 0
    gone: int = 0  # files purged (or versions moved by another run) while being copied
    failed: list[str] = field(default_factory=list)  # "file_id v<n>: why", left where they are


def _hashed(stream: BinaryIO, digest) -> Iterator[bytes]:
    while piece := stream.read(READ_BYTES):
        digest.update(piece)
        yield piece


def _sha256_of(stream: BinaryIO) -> str:
    digest = hashlib.sha256()
    for _ in _hashed(stream, digest):
        pass
    return digest.hexdigest()


class BlobMoves:
    def __init__(self, files: FileRepository, stores: BlobStores, released: ReleasedBlobs,
                 texts: ExtractedTextRepository, clock: Callable[[], datetime] = utcnow):
        self.files = files
        self.stores = stores
        self.released = released
        self.texts = texts  # kept by blob id: a moved version's text moves with it
        self.clock = clock

    def move_all(self, target: str, on_version: Callable[[File, FileVersion, str], None]
                 | None = None) -> MoveReport:
        """Moves every version of every file (deleted ones too) whose blob is not in `target`.

        `on_version(file, version, outcome)` is told of each version handled ("moved",
        "gone", "failed"). Raises ValidationFailed for a target that is not configured; a
        storage error stops the run (run it again to resume)."""
        self.stores.require(target)
        report = MoveReport()
        after: str | None = None
        while batch := self.files.every_file(after, FILES_PER_BATCH):
            for file in batch:
                for version in file.versions:
                    if self.stores.name_of(version.blob_id) == target:
                        report.already_there += 1
                        continue
                    outcome = self._move(file, version, target, report)
                    if on_version is not None:
                        on_version(file, version, outcome)
            after = batch[-1].id
        return report

    def release_due(self, grace: timedelta) -> int:
        """Deletes the blobs released more than `grace` ago; how many."""
        cutoff = self.clock() - grace
        deleted = 0
        while due := self.released.due(cutoff, RELEASES_PER_BATCH):
            for blob_id in due:
                self.stores.delete(blob_id)
                self.texts.delete([blob_id])
                self.released.forget(blob_id)
                deleted += 1
        return deleted

    def _move(self, file: File, version: FileVersion, target: str, report: MoveReport) -> str:
        where = f"{file.id} v{version.number}"
        digest = hashlib.sha256()
        try:
            source = self.stores.open(version.blob_id)
        except NotFound:
            if self.files.get(file.id, include_deleted=True) is None:
                report.gone += 1  # purged since this batch was read
                return "gone"
            report.failed.append(f"{where}: its blob {version.blob_id} is missing")
            log.error("not moving %s: its blob %s is missing", where, version.blob_id)
            return "failed"
        with source:
            copy_id = self.stores.save_in(target, _hashed(source, digest), version.filename)
        try:
            problem = self._check(copy_id, digest.hexdigest(), version.sha256)
            if problem:
                self.stores.delete(copy_id)
                report.failed.append(f"{where}: {problem}")
                log.error("not moving %s: %s", where, problem)
                return "failed"
            if not self.files.replace_blob(file.id, version.number, version.blob_id, copy_id):
                self.stores.delete(copy_id)
                report.gone += 1
                return "gone"
        except BaseException:
            self.stores.delete(copy_id)
            raise
        self.released.add(version.blob_id, self.clock())
        text = self.texts.get(version.blob_id)
        if text is not None:  # read once: not again because the bytes moved
            self.texts.put(copy_id, text)
        report.moved += 1
        return "moved"

    def _check(self, copy_id: str, copied: str, expected: str) -> str | None:
        """Why the copy must not replace the original, or None when its bytes are right."""
        if copied != expected:
            return f"the stored bytes' sha256 is {copied}, not the recorded {expected}"
        with self.stores.open(copy_id) as stream:
            read_back = _sha256_of(stream)
        if read_back != expected:
            return f"the copy reads back with sha256 {read_back}, not {expected}"
        return None
