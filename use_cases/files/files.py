"""Files of a workspace: upload, list, change, versions, soft delete, restore and purge."""
from __future__ import annotations

import builtins
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from entities.actor import Actor
from entities.clock import utcnow
from entities.errors import Conflict, NotFound, ValidationFailed
from entities.file import File, FileQuery, FileVersion, extension_of, normalise_tags, safe_filename
from entities.pagination import Page, PageRequest
from entities.workspace import WorkspaceRole
from use_cases.files.access import FileAccess
from use_cases.files.ingest import FileIngest
from use_cases.files.ports import FileRepository
from use_cases.files.texts import DocumentTexts
from use_cases.shared.ports import AuditLog, EventBus
from use_cases.workspaces.access import WorkspaceAccess

PURGE_BATCH = 100


@dataclass(frozen=True)
class UploadDetails:
    workspace_id: str | None = None  # None: the uploader's personal workspace
    category: str | None = None
    tags: list[str] = field(default_factory=list)
    description: str = ""
    is_public: bool = False


@dataclass(frozen=True)
class FileFilter:
    workspace_id: str | None = None
    category: str | None = None
    tag: str | None = None
    q: str | None = None
    deleted: bool = False


CHANGEABLE = {"filename", "category", "tags", "description", "is_public"}


class Files:
    def __init__(self, files: FileRepository, ingest: FileIngest, texts: DocumentTexts,
                 access: WorkspaceAccess, events: EventBus, audit: AuditLog,
                 clock: Callable[[], datetime] = utcnow):
        self.files = files
        self.ingest = ingest
        self.texts = texts
        self.access = access
        self.file_access = FileAccess(files, access)
        self.events = events
        self.audit = audit
        self.clock = clock

    def upload(self, actor: Actor, details: UploadDetails, filename: str,
               chunks: Iterable[bytes]) -> File:
        membership = self.access.require(actor.user_id, details.workspace_id, WorkspaceRole.MEMBER)
        workspace_id = membership.workspace_id
        version = self.ingest.store(workspace_id, filename, chunks, actor.user_id, 1, self.clock)
        now = self.clock()
        try:
            file = self.files.add(File(
                id="", workspace_id=workspace_id, owner_id=actor.user_id,
                filename=version.filename, content_type=version.content_type, size=version.size,
                sha256=version.sha256, version=1, versions=[version], category=details.category,
                tags=normalise_tags(details.tags), description=details.description,
                is_public=details.is_public, created_at=now, updated_at=now))
        except Exception:
            self.ingest.discard(workspace_id, [version])
            raise
        self._announce(file, actor)
        return file

    def add_version(self, actor: Actor, file_id: str, filename: str,
                    chunks: Iterable[bytes]) -> File:
        file = self.file_access.changeable(actor.user_id, file_id)
        version = self.ingest.store(file.workspace_id, filename, chunks, actor.user_id,
                                    file.version + 1, self.clock)
        updated = self.files.add_version(file.id, file.version, version)
        if updated is None:
            self.ingest.discard(file.workspace_id, [version])
            raise Conflict("The file changed (or was deleted) during the upload; try again")
        self._announce(updated, actor)
        return updated

    def list(self, actor: Actor, filters: FileFilter, page: PageRequest) -> Page[File]:
        membership = self.access.require(actor.user_id, filters.workspace_id)
        query = FileQuery(workspace_id=membership.workspace_id, category=filters.category,
                          tag=filters.tag, name_contains=filters.q, deleted=filters.deleted)
        return self.files.search(query, page)

    def get(self, actor: Actor, file_id: str) -> File:
        return self.file_access.readable(actor.user_id, file_id)

    def versions(self, actor: Actor, file_id: str) -> builtins.list[FileVersion]:
        file = self.file_access.readable(actor.user_id, file_id)
        return [file.current_version if v.number == file.version else v for v in reversed(file.versions)]

    def update(self, actor: Actor, file_id: str, **changes) -> File:
        unknown = set(changes) - CHANGEABLE
        if unknown:
            raise ValidationFailed("Unknown fields", {name: ["Unknown field."] for name in unknown})
        file = self.file_access.changeable(actor.user_id, file_id)
        if "filename" in changes:
            changes["filename"] = self._rename(file, changes["filename"])
        if "tags" in changes:
            changes["tags"] = normalise_tags(changes["tags"])
        if not changes:
            return file
        updated = self.files.update(file.id, **changes)
        if updated is None:
            raise NotFound("File not found")
        return updated

    def delete(self, actor: Actor, file_id: str) -> None:
        file = self.file_access.changeable(actor.user_id, file_id)
        self.files.set_deleted(file.id, self.clock())
        self.audit.record("file.deleted", actor.user_id, "file", file.id, file.workspace_id,
                          details={"filename": file.filename})

    def restore(self, actor: Actor, file_id: str) -> File:
        file = self.file_access.changeable(actor.user_id, file_id, include_deleted=True)
        if file.deleted_at is None:
            return file
        restored = self.files.set_deleted(file.id, None)
        if restored is None:
            raise NotFound("File not found")
        return restored

    def purge_deleted(self, older_than_days: int) -> int:
        """Removes files deleted more than `older_than_days` ago and frees their bytes."""
        cutoff = self.clock() - timedelta(days=older_than_days)
        purged = 0
        while batch := self.files.deleted_before(cutoff, PURGE_BATCH):
            for file in batch:
                # the versions as removed: `flask move-files` may have moved their bytes since
                removed = self.files.remove(file.id)
                if removed is not None:
                    self.ingest.discard(removed.workspace_id, removed.versions)
                    self.texts.forget([version.blob_id for version in removed.versions])
                    purged += 1
        return purged

    @staticmethod
    def _rename(file: File, requested: str) -> str:
        name = safe_filename(requested)
        if extension_of(name) != extension_of(file.filename):
            raise ValidationFailed("A new name must keep the file's extension",
                                   {"filename": [f"Must end with {extension_of(file.filename)}."]})
        return name

    def _announce(self, file: File, actor: Actor) -> None:
        self.events.publish(f"workspace:{file.workspace_id}", {
            "type": "file.uploaded", "workspace_id": file.workspace_id, "file_id": file.id,
            "filename": file.filename, "content_type": file.content_type, "size": file.size,
            "sha256": file.sha256, "version": file.version, "owner_id": file.owner_id,
            "uploaded_by": actor.user_id,
        })
