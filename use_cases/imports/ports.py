"""What importing and exporting talks needs from the outside world."""
from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime

from entities.errors import ValidationFailed
from entities.talk import Message, Talk
from entities.talk_import import ExportJob, ImportItem, ImportJob, ItemStatus, JobStatus


class ImportFileBroken(ValidationFailed):
    """The file cannot be read further (invalid JSON, a damaged zip member): the conversations
    read before it are kept, the import fails with this reason."""


@dataclass(frozen=True)
class RawConversation:
    """One conversation object as parsed (`raw`), or why it could not be (`error`); `where`
    locates it in the upload (`conversations.json#3`)."""

    raw: dict | None
    where: str
    error: str | None = None


class ConversationReader(ABC):
    @abstractmethod
    def spool(self, chunks: Iterable[bytes]) -> str:
        """The upload copied to a temporary file, its path; PayloadTooLarge over the limit."""

    @abstractmethod
    def discard(self, path: str) -> None: ...

    @abstractmethod
    def check(self, path: str, filename: str) -> None:
        """ValidationFailed / PayloadTooLarge for a file that is not an export (cheap: headers
        and a zip's directory only)."""

    @abstractmethod
    def conversations(self, path: str, filename: str) -> Iterator[RawConversation]:
        """Each conversation of the file, one at a time; ImportFileBroken when it cannot go on."""


class TalkArchive(ABC):
    """Whole talks written at once, with their own times (imports)."""

    @abstractmethod
    def new_id(self) -> str: ...

    @abstractmethod
    def has_source(self, user_id: str, fmt: str, source_id: str) -> str | None:
        """The id of the caller's talk imported from this source, if any."""

    @abstractmethod
    def add_whole(self, talk: Talk, messages: list[Message]) -> str | None:
        """Stores the talk (with `talk.id`) and its messages (ids set, parents first); the talk's
        id, or None when this user already has a talk from the same source (nothing stored)."""


class ImportJobRepository(ABC):
    @abstractmethod
    def add(self, job: ImportJob, worker_id: str, lease_until: datetime) -> ImportJob: ...

    @abstractmethod
    def get(self, job_id: str, user_id: str) -> ImportJob | None: ...

    @abstractmethod
    def items(self, job_id: str, status: ItemStatus | None = None, start: int = 0,
              limit: int | None = None) -> list[ImportItem]:
        """The job's items in file order from position `start`, at most `limit` (None: all);
        only those with `status` when given."""

    @abstractmethod
    def progress(self, job: ImportJob, items: list[ImportItem], lease_until: datetime) -> None:
        """Stores the counters and appends `items` (in order); extends the lease."""

    @abstractmethod
    def finish(self, job: ImportJob, status: JobStatus, error: str | None) -> None: ...

    @abstractmethod
    def fail_abandoned(self, job_id: str, now: datetime, reason: str) -> bool:
        """Fails the job if it is running with a lease expired before `now`; True if it did."""


class ExportJobRepository(ABC):
    @abstractmethod
    def add(self, job: ExportJob, lease_until: datetime) -> ExportJob: ...

    @abstractmethod
    def get(self, job_id: str, user_id: str) -> ExportJob | None: ...

    @abstractmethod
    def get_any(self, job_id: str) -> ExportJob | None: ...

    @abstractmethod
    def progress(self, job: ExportJob, lease_until: datetime) -> None: ...

    @abstractmethod
    def finish(self, job: ExportJob, status: JobStatus, error: str | None) -> None: ...

    @abstractmethod
    def fail_abandoned(self, job_id: str, now: datetime, reason: str) -> bool: ...

    @abstractmethod
    def previous_blobs(self, user_id: str, keep: str) -> list[str]:
        """Blob ids of the user's other finished exports, forgotten as they are returned (a new
        export replaces the older archives)."""
