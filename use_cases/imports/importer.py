"""Importing conversations from other chat apps (and SynapScale's own exports) as talks.

`start` spools the upload to disk, checks that it is an export at all (4xx otherwise, nothing
stored), records a job and returns it at once; the job then reads the file one conversation at a
time (see adapters/conversation_stream.py) and for each one: detects its format (unless given),
converts it (use_cases/imports/formats/), checks its tree (entities/talk_import.tree_of) and
stores the talk and all its messages at once with their own times, parents and current leaf.
Each conversation gets an item in the report: `imported` (with the new `talk_id`), `skipped`
(this user already imported it: `talk.source` is `{format, id}`, unique per user) or `failed`
with the reason; one conversation's failure never stops the others (one a converter trips on
fails alone, as "could not be read": no exception text reaches the report). What is stored keeps
the talk API's bounds (system prompt, tags; a message's file ids, at most 20, and at most 200
distinct ones looked up per conversation). A file with no conversation,
or where none could be imported or skipped, ends `failed` with a reason — an import never
"succeeds" silently with nothing in it. Progress goes to the user's `/api/v1/ws/user` feed as
`import.progress` events, then `import.finished`. At each progress flush the job checks again
that its user may still write in the workspace (it stops, failed, when not); the model
catalogue is read once per job.
"""
from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable
from datetime import datetime, timedelta

from entities.clock import utcnow
from entities.errors import Forbidden, NotFound, ValidationFailed
from entities.file import safe_filename
from entities.talk import (
    Message,
    MessageRole,
    MessageStatus,
    MessageUsage,
    Talk,
    TalkSource,
    title_from,
)
from entities.talk_import import (
    IMPORT_FORMATS,
    ImportedConversation,
    ImportItem,
    ImportJob,
    ImportLimits,
    ItemStatus,
    JobStatus,
    tree_of,
)
from entities.workspace import WorkspaceRole
from use_cases.chat.ports import FileContext
from use_cases.imports.background import BackgroundJobs
from use_cases.imports.formats import FORMATS, detect
from use_cases.imports.ports import (
    ConversationReader,
    ImportFileBroken,
    ImportJobRepository,
    RawConversation,
    TalkArchive,
)
from use_cases.shared.ports import EventBus
from use_cases.workspaces.access import WorkspaceAccess

log = logging.getLogger(__name__)

ABANDONED = ("The import stopped: the server process running it ended. Import the file again; "
             "the conversations already imported are skipped")
REVOKED = ("You can no longer write in this workspace (your role changed or you left it): "
           "the rest of the file was not read")
NOTHING_FOUND = "No conversations found in the file"
NOTHING_IMPORTED = "No conversation could be imported (see each item's error)"
UNEXPECTED = "The import failed unexpectedly"
UNREADABLE = "The conversation could not be read"
MAX_FILES_PER_MESSAGE = 20  # as sending a message allows
MAX_FILE_LOOKUPS = 200  # distinct file ids looked up per conversation
MAX_SYSTEM_PROMPT_CHARS = 20_000  # as the talk API allows
MAX_TAGS, MAX_TAG_CHARS = 20, 50  # as the talk API allows
MAX_FIELD_CHARS = 10_000  # a message's model, error and error code (each kept up to this)


class TalkImports:
    def __init__(self, reader: ConversationReader, archive: TalkArchive, jobs: ImportJobRepository,
                 access: WorkspaceAccess, bus: EventBus, file_context: FileContext,
                 model_ids: Callable[[], Iterable[str]], limits: ImportLimits,
                 runner: BackgroundJobs, lease_s: float = 60.0, progress_every_s: float = 1.0,
                 clock: Callable[[], datetime] = utcnow):
        self.reader = reader
        self.archive = archive
        self.jobs = jobs
        self.access = access
        self.bus = bus
        self.file_context = file_context
        self.model_ids = model_ids
        self.limits = limits
        self.runner = runner
        self.lease = timedelta(seconds=lease_s)
        self.progress_every_s = progress_every_s
        self.clock = clock

    def start(self, user_id: str, workspace_id: str | None, fmt: str | None, filename: str,
              chunks: Iterable[bytes]) -> ImportJob:
        """Accepts an export for import (202). ValidationFailed for an unknown `format` or a file
        that is not an export; PayloadTooLarge over the size limits; NotFound / Forbidden for a
        workspace the caller cannot write in; ServiceUnavailable when this process runs as many
        imports as it may."""
        if fmt is not None and fmt not in IMPORT_FORMATS:
            raise ValidationFailed("Unknown import format", {"format": list(IMPORT_FORMATS)})
        membership = self.access.require(user_id, workspace_id, WorkspaceRole.MEMBER)
        self.runner.reserve()
        path = None
        try:
            path = self.reader.spool(chunks)
            self.reader.check(path, filename)
            job = self.jobs.add(ImportJob(id="", user_id=user_id,
                                          workspace_id=membership.workspace_id, format=fmt,
                                          filename=safe_filename(filename)),
                                "", self.clock() + self.lease)
        except BaseException:
            if path is not None:
                self.reader.discard(path)
            self.runner.release()
            raise
        try:
            self.runner.start(lambda: self.run(job, path))
        except BaseException:  # no job runs: nothing may stay on disk nor `running`
            self.reader.discard(path)
            self.jobs.finish(job, JobStatus.FAILED, UNEXPECTED)
            raise
        return job

    def status(self, user_id: str, job_id: str, items: str = "all", offset: int = 0,
               limit: int = 100) -> tuple[ImportJob, list[ImportItem], int | None]:
        """The job, a page of its items and where the next page starts (None: no more).
        `items`: `all`, `failed` or `none` (pollers that only need the counters); the page is
        the items from file position `offset`, at most `limit` of them (a report of 200,000
        conversations is never read whole). NotFound for another user's job. A running job
        whose process died is failed here (its lease expired)."""
        job = self.jobs.get(job_id, user_id)
        if job is None:
            raise NotFound("Import not found")
        if job.status is JobStatus.RUNNING and self.jobs.fail_abandoned(job.id, self.clock(),
                                                                         ABANDONED):
            job = self.jobs.get(job_id, user_id) or job
        if items == "none":
            return job, [], None
        page = self.jobs.items(job.id, ItemStatus.FAILED if items == "failed" else None,
                               offset, limit + 1)
        return job, page[:limit], page[limit].position if len(page) > limit else None

    # --- the job ------------------------------------------------------------------------------

    def run(self, job: ImportJob, path: str) -> None:
        """Imports every conversation of the file at `path` (then deleted)."""
        pending: list[ImportItem] = []
        last = time.monotonic()
        error: str | None = None
        try:
            models = set(self.model_ids())  # the catalogue, read once per job
            for raw in self.reader.conversations(path, job.filename):
                if job.total >= self.limits.max_conversations:
                    error = f"More than {self.limits.max_conversations} conversations: the rest " \
                            "were not read"
                    break
                item = self._one(job, raw, models)
                job.total += 1
                setattr(job, item.status.value, getattr(job, item.status.value) + 1)
                pending.append(item)
                if time.monotonic() - last >= self.progress_every_s:
                    self._progress(job, pending)
                    pending, last = [], time.monotonic()
                    if not self._may_write(job):
                        error = REVOKED
                        break
        except ImportFileBroken as broken:
            error = broken.message
        except Exception:
            log.exception("import %s failed", job.id)
            error = UNEXPECTED
        finally:
            self.reader.discard(path)
        self._progress(job, pending)
        if error is None and job.total == 0:
            error = NOTHING_FOUND
        elif error is None and job.imported + job.skipped == 0:
            error = NOTHING_IMPORTED
        status = JobStatus.FAILED if error else JobStatus.SUCCEEDED
        self.jobs.finish(job, status, error)
        job.status, job.error = status, error
        self._publish(job, "import.finished")

    def _may_write(self, job: ImportJob) -> bool:
        """Whether the user still is a member (or more) of the job's workspace: a long import
        checks again as it goes, so leaving a workspace stops what one started there."""
        try:
            self.access.require(job.user_id, job.workspace_id, WorkspaceRole.MEMBER)
        except (NotFound, Forbidden):
            return False
        return True

    def _progress(self, job: ImportJob, items: list[ImportItem]) -> None:
        self.jobs.progress(job, items, self.clock() + self.lease)
        self._publish(job, "import.progress")

    def _publish(self, job: ImportJob, kind: str) -> None:
        try:
            self.bus.publish(f"user:{job.user_id}", {"type": kind, "import": summary(job)})
        except Exception:  # the progress is stored; a lost notification must not stop the job
            log.exception("could not publish %s", kind)

    def _one(self, job: ImportJob, raw: RawConversation, models: set[str]) -> ImportItem:
        if raw.raw is None:
            return ImportItem(raw.where, ItemStatus.FAILED, error=raw.error)
        fmt = FORMATS[job.format] if job.format else detect(raw.raw)
        if fmt is None:
            return ImportItem(raw.where, ItemStatus.FAILED,
                              error="Not a conversation of a known format")
        try:
            conversation = fmt.convert(raw.raw)
            existing = self.archive.has_source(job.user_id, fmt.name, conversation.source_id)
            if existing:
                return ImportItem(conversation.source_id, ItemStatus.SKIPPED, existing,
                                  title=conversation.title[:200] or None)
            talk, messages = self._talk(job, conversation, models)
        except ValidationFailed as invalid:
            return ImportItem(_source_of(raw), ItemStatus.FAILED, error=invalid.message)
        except Exception:  # a converter tripped on input of a shape it did not expect
            log.exception("import %s: conversation %s could not be read", job.id, raw.where)
            return ImportItem(_source_of(raw), ItemStatus.FAILED, error=UNREADABLE)
        stored = self.archive.add_whole(talk, messages)
        if stored is None:  # imported meanwhile by another job of this user
            existing = self.archive.has_source(job.user_id, fmt.name, conversation.source_id)
            return ImportItem(conversation.source_id, ItemStatus.SKIPPED, existing,
                              title=talk.name)
        return ImportItem(conversation.source_id, ItemStatus.IMPORTED, stored, title=talk.name)

    def _talk(self, job: ImportJob, conversation: ImportedConversation, models: set[str]
              ) -> tuple[Talk, list[Message]]:
        tree = tree_of(conversation, self.limits)
        now = self.clock()
        ids = {m.source_id: self.archive.new_id() for m in tree.messages}
        for m in tree.messages:  # ids as the API takes them; each one costs a look-up
            m.file_ids = [f for f in m.file_ids if len(f) <= 64][:MAX_FILES_PER_MESSAGE]
        wanted = list(dict.fromkeys(f for m in tree.messages for f in m.file_ids))
        wanted = wanted[:MAX_FILE_LOOKUPS]
        known_files = set(self.file_context.attachments(job.workspace_id, wanted)) if wanted \
            else set()
        first_time = conversation.created_at or next(
            (m.created_at for m in tree.messages if m.created_at), None) or now
        talk_id = self.archive.new_id()
        messages = []
        for m in tree.messages:
            created = m.created_at or first_time
            messages.append(Message(
                id=ids[m.source_id], talk_id=talk_id, workspace_id=job.workspace_id,
                user_id=job.user_id, role=MessageRole(m.role), content=m.content,
                status=MessageStatus(m.status), model=_bounded(m.model),
                parent_id=ids.get(m.parent_source_id) if m.parent_source_id else None,
                file_ids=[f for f in m.file_ids if f in known_files], error=_bounded(m.error),
                error_code=_bounded(m.error_code), latency_ms=m.latency_ms,
                usage=MessageUsage(*m.usage) if m.usage else None,
                tool_calls=m.tool_calls, tool_call_id=m.tool_call_id, name=m.name,
                created_at=created, updated_at=m.updated_at or created))
        last_at = max((m.created_at for m in messages if m.created_at), default=first_time)
        title = " ".join(conversation.title.split())[:self.limits.max_title_chars]
        if not title:
            first_user = next((m.content for m in messages if m.role is MessageRole.USER), "")
            title = title_from(first_user) if first_user else "Imported talk"
        model = conversation.model if conversation.model in models else None
        if len(conversation.system_prompt or "") > MAX_SYSTEM_PROMPT_CHARS:
            raise ValidationFailed(
                f"The system prompt is longer than {MAX_SYSTEM_PROMPT_CHARS} characters")
        tags = [tag for tag in dict.fromkeys(conversation.tags)
                if 0 < len(tag) <= MAX_TAG_CHARS][:MAX_TAGS]
        talk = Talk(
            id=talk_id, workspace_id=job.workspace_id, user_id=job.user_id, name=title,
            model=model, system_prompt=conversation.system_prompt,
            tags=tags, archived=conversation.archived, pinned=conversation.pinned,
            message_count=len(messages), last_message_at=last_at if messages else None,
            created_at=first_time, updated_at=conversation.updated_at or last_at,
            last_seq=len(messages),
            current_leaf_id=ids.get(tree.current_leaf) if tree.current_leaf else None,
            source=TalkSource(conversation.format, conversation.source_id))
        return talk, messages


def _source_of(raw: RawConversation) -> str:
    """The failed conversation's own id when it has a short one, else its place in the file."""
    source = raw.raw.get("id") if raw.raw is not None else None
    return source if isinstance(source, str) and 0 < len(source) <= 200 else raw.where


def _bounded(text: str | None) -> str | None:
    return text[:MAX_FIELD_CHARS] if text else text


def summary(job: ImportJob) -> dict:
    """The job's counters as the API and the events show them."""
    return {"id": job.id, "status": job.status.value, "format": job.format,
            "filename": job.filename, "total": job.total, "imported": job.imported,
            "skipped": job.skipped, "failed": job.failed, "error": job.error}
