"""Files: metadata of uploaded documents and images; their bytes live in a blob store."""
from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field, replace
from datetime import datetime
from urllib.parse import quote

MAX_FILENAME_LENGTH = 200
_UNSAFE_CHARACTERS = re.compile(r'[<>:"|?*;]')
_WINDOWS_DEVICES = {"con", "prn", "aux", "nul", *(f"com{i}" for i in range(10)),
                    *(f"lpt{i}" for i in range(10))}


@dataclass(frozen=True)
class FileVersion:
    number: int
    blob_id: str
    filename: str
    content_type: str
    size: int
    sha256: str
    uploaded_by: str
    created_at: datetime | None = None


@dataclass
class File:
    id: str
    workspace_id: str
    owner_id: str
    filename: str
    content_type: str
    size: int
    sha256: str
    version: int
    versions: list[FileVersion] = field(default_factory=list)
    category: str | None = None
    tags: list[str] = field(default_factory=list)
    description: str = ""
    is_public: bool = False
    deleted_at: datetime | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None

    @property
    def stored_bytes(self) -> int:
        """What the file costs its workspace's quota: every version still stored."""
        return sum(v.size for v in self.versions)

    def get_version(self, number: int | None) -> FileVersion | None:
        """Version `number` (None: the current one), named as the file is named now if current."""
        wanted = self.version if number is None else number
        for v in self.versions:
            if v.number == wanted:
                if wanted == self.version and v.filename != self.filename:
                    return replace(v, filename=self.filename)
                return v
        return None

    @property
    def current_version(self) -> FileVersion:
        """The current version, which a stored file always has."""
        current = self.get_version(None)
        if current is None:
            raise LookupError(f"file {self.id} has no version {self.version}")
        return current


@dataclass(frozen=True)
class FileQuery:
    workspace_id: str
    category: str | None = None
    tag: str | None = None
    name_contains: str | None = None
    deleted: bool = False


def extension_of(filename: str) -> str:
    """The lower-case extension with its dot ('.pdf'), or '' when there is none."""
    stem, dot, ext = filename.rpartition(".")
    return f".{ext.lower()}" if dot and stem and ext else ""


def safe_filename(raw: str) -> str:
    """A display name safe to store and to send back in Content-Disposition.

    Drops any directory part (both separators), control and formatting characters (including
    bidi overrides that disguise extensions), characters Windows refuses, leading dots (no
    hidden files, no '..'), device names; caps the length while keeping the extension.
    """
    name = unicodedata.normalize("NFC", raw or "")
    name = re.split(r"[/\\]", name)[-1]
    name = "".join(ch for ch in name if unicodedata.category(ch)[0] != "C")
    name = _UNSAFE_CHARACTERS.sub("_", name)
    name = " ".join(name.split()).strip(" .")
    if name.split(".")[0].lower() in _WINDOWS_DEVICES:
        name = f"_{name}"
    if len(name) > MAX_FILENAME_LENGTH:
        ext = extension_of(name)
        ext = ext if len(ext) <= 16 else ""
        name = name[: MAX_FILENAME_LENGTH - len(ext)].rstrip(" .") + ext
    return name or "unnamed"


def normalise_tags(tags: list[str]) -> list[str]:
    """Trimmed, de-duplicated (case-insensitively), in the order given."""
    seen: set[str] = set()
    result = []
    for tag in tags:
        tag = " ".join(tag.split())
        if tag and tag.lower() not in seen:
            seen.add(tag.lower())
            result.append(tag)
    return result


@dataclass(frozen=True)
class ExtractedText:
    """The text read from one file version, kept so it is read once. A version whose text could
    not be read within the limits keeps why (`error`, and LimitExceeded's `error_code`)."""
    text: str
    truncated: bool  # more text was left out (a character, page or time cap)
    error: str | None = None
    error_code: str | None = None


def attachment_disposition(filename: str) -> str:
    """The Content-Disposition of a download (RFC 6266): an ASCII fallback for old clients and
    the exact UTF-8 name in filename*."""
    fallback = unicodedata.normalize("NFKD", filename).encode("ascii", "ignore").decode("ascii")
    fallback = "".join("_" if ch in '"\\' else ch for ch in fallback).strip() or "download"
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(filename, safe='')}"
