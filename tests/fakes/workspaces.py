"""The workspace repositories on mongomock, and a stand-in for WorkspaceAccess."""
from __future__ import annotations

from dataclasses import dataclass

from entities.errors import NotFound
from repositories.workspaces import MongoMembershipRepository, MongoWorkspaceRepository, to_workspace
from tests.fakes.database import StoredRows, on_mongomock


class MongomockWorkspaceRepository(MongoWorkspaceRepository):
    """MongoWorkspaceRepository on mongomock, with its rows to look at."""

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
