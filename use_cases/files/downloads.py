"""Downloads: short-lived links for members, and open reads of public files.

A link is the service's own (a signed token the API exchanges for the bytes) or, with direct
links on (FILE_DOWNLOAD_LINKS=presigned), a link to the storage itself (an S3 presigned GET URL)
for blobs whose storage gives them; both expire after the same TTL."""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import BinaryIO, TypeGuard

from entities.actor import Actor
from entities.clock import utcnow
from entities.errors import NotFound, TokenExpired
from entities.file import File, FileVersion, attachment_disposition
from use_cases.files.access import FileAccess
from use_cases.files.blob_stores import BlobStores
from use_cases.files.ports import FileRepository, LinkSigner
from use_cases.workspaces.access import WorkspaceAccess

LINK_TTL = timedelta(minutes=15)


def _is_int(value: object) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool)


@dataclass(frozen=True)
class DownloadLink:
    token: str | None  # the service's link: the controller makes it a URL
    expires_at: datetime
    url: str | None = None  # a direct link to the storage, used as is


@dataclass
class Download:
    filename: str
    content_type: str
    size: int
    sha256: str
    stream: BinaryIO


class FileDownloads:
    def __init__(self, files: FileRepository, storage: BlobStores, signer: LinkSigner,
                 access: WorkspaceAccess, ttl: timedelta = LINK_TTL,
                 clock: Callable[[], datetime] = utcnow, direct_links: bool = False):
        self.files = files
        self.storage = storage
        self.direct_links = direct_links
        self.signer = signer
        self.file_access = FileAccess(files, access)
        self.ttl = ttl
        self.clock = clock

    def link(self, actor: Actor, file_id: str, version: int | None = None) -> DownloadLink:
        """A link to version `version` (None: the current one) valid `ttl`: direct to the
        storage when direct links are on and the blob's storage gives them, else the
        service's own. NotFound for a file the actor cannot read or an unknown version."""
        file = self.file_access.readable(actor.user_id, file_id)
        chosen = self._version(file, version)
        expires_at = self.clock() + self.ttl
        if self.direct_links:
            url = self.storage.direct_url(chosen.blob_id, attachment_disposition(chosen.filename),
                                          chosen.content_type, int(self.ttl.total_seconds()))
            if url is not None:
                return DownloadLink(None, expires_at.replace(microsecond=0), url)
        token = self.signer.sign({"f": file.id, "v": chosen.number,
                                  "e": int(expires_at.timestamp())})
        return DownloadLink(token, expires_at.replace(microsecond=0))

    def open_link(self, token: str) -> Download:
        """The bytes a link grants; altered links are unknown ones, expired links say so."""
        file_id, version, expires_at = self._read(token)
        if self.clock() >= expires_at:
            raise TokenExpired("This download link has expired")
        file = self.files.get(file_id)
        if file is None:
            raise NotFound("File not found")
        return self._open(file, self._version(file, version))

    def _read(self, token: str) -> tuple[str, int, datetime]:
        """The link's file id, version and expiry; any payload `link` would not have signed
        (wrong types, an expiry no clock can hold) is an unknown link."""
        payload = self.signer.load(token)
        if not isinstance(payload, dict):
            raise NotFound("Download link not found")
        file_id, version, expiry = payload.get("f"), payload.get("v"), payload.get("e")
        if (not isinstance(file_id, str) or not 0 < len(file_id) <= 64
                or not _is_int(version) or not _is_int(expiry)):
            raise NotFound("Download link not found")
        try:
            expires_at = datetime.fromtimestamp(expiry, UTC)
        except (OverflowError, OSError, ValueError):
            raise NotFound("Download link not found") from None
        return file_id, version, expires_at

    def open_public(self, file_id: str, version: int | None = None) -> Download:
        """Making a file public publishes its current version, not its history: any other
        version is unknown here (members still download it through signed links)."""
        file = self.files.get(file_id)
        if file is None or not file.is_public:
            raise NotFound("File not found")
        current = self._version(file, None)
        if version is not None and version != current.number:
            raise NotFound(f"Version {version} of this file not found")
        return self._open(file, current)

    @staticmethod
    def _version(file: File, number: int | None) -> FileVersion:
        chosen = file.get_version(number)
        if chosen is None:
            raise NotFound(f"Version {number} of this file not found")
        return chosen

    def _open(self, file: File, version: FileVersion) -> Download:
        return Download(filename=version.filename, content_type=version.content_type,
                        size=version.size, sha256=version.sha256,
                        stream=self.storage.open(version.blob_id))
