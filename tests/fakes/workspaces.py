"""The workspace repositories on mongomock, and a stand-in for WorkspaceAccess."""
from __future__ import annotations

from dataclasses import dataclass

from pymongo import ASCENDING, DESCENDING

from entities.errors import NotFound
from entities.pagination import Page, PageRequest
from entities.workspace import Workspace, WorkspaceRole
from repositories.mongo import maybe_object_id
from repositories.workspaces import MongoMembershipRepository, MongoWorkspaceRepository, to_workspace
from tests.fakes.database import StoredRows, on_mongomock


class MongomockWorkspaceRepository(MongoWorkspaceRepository):
    """MongoWorkspaceRepository for mongomock, which lacks `$toObjectId`: `list_for_user` makes
    the pipeline's join in two queries (tests/contract proves both give the same pages)."""

    def list_for_user(self, user_id: str, page: PageRequest) -> Page[tuple[Workspace, WorkspaceRole]]:
        roles = {doc["workspace_id"]: doc["role"]
                 for doc in self.db["memberships"].find({"user_id": user_id})}
        oids = [oid for oid in map(maybe_object_id, roles) if oid]
        docs = list(self.collection.find({"_id": {"$in": oids}, "deleted_at": None}).sort(
            [("is_personal", DESCENDING), ("created_at", ASCENDING)]))
        items = [(to_workspace(doc), WorkspaceRole(roles[str(doc["_id"])]))
                 for doc in docs[page.skip:page.skip + page.size]]
        return Page(items, page.page, page.size, len(docs))

    @property
    def rows(self) -> StoredRows:
        """Workspace id -> Workspace."""
        return StoredRows(self.collection, to_workspace, live=False)


def workspace_repository(db=None) -> MongomockWorkspaceRepository:
    return on_mongomock(MongomockWorkspaceRepository, db)


def membership_repository(db=None) -> MongoMembershipRepository:
    return on_mongomock(MongoMembershipRepository, db)


@dataclass
class Membership:
    workspace_id: str


class FakeAccess:
    """WorkspaceAccess for tests without users: anyone may use any workspace but `strangers`
    (NotFound); no workspace means the user's personal one, `personal` (default
    "personal-<user id>"). Every check is kept in `calls`."""

    def __init__(self, strangers: tuple[str, ...] = (), personal: str | None = None):
        self.strangers = strangers
        self.personal = personal
        self.calls: list[tuple[str, str | None, str]] = []

    def require(self, user_id, workspace_id, minimum):
        self.calls.append((user_id, workspace_id, minimum))
        if user_id in self.strangers:
            raise NotFound("Workspace not found")
        return Membership(workspace_id or self.personal or f"personal-{user_id}")
