"""Who may touch a workspace. Every controller asks here, so every face of the API obeys the
same rules: non-members get NotFound (never a hint that the workspace exists), members with a
too-low role get Forbidden."""
from __future__ import annotations

from entities.errors import Forbidden, NotFound
from entities.workspace import Membership, WorkspaceRole
from use_cases.workspaces.ports import MembershipRepository, WorkspaceRepository


class WorkspaceAccess:
    def __init__(self, workspaces: WorkspaceRepository, memberships: MembershipRepository):
        self.workspaces = workspaces
        self.memberships = memberships

    def require(self, user_id: str, workspace_id: str | None,
                minimum: WorkspaceRole | str = WorkspaceRole.VIEWER) -> Membership:
        """The caller's membership of `workspace_id` (None: their personal workspace)."""
        minimum = WorkspaceRole(minimum)
        if workspace_id is None:
            personal = self.workspaces.get_personal(user_id)
            if personal is None:
                raise NotFound("Workspace not found")
            workspace_id = personal.id
        membership = self.memberships.get(workspace_id, user_id)
        if membership is None or self.workspaces.get(workspace_id) is None:
            raise NotFound("Workspace not found")
        if not membership.role.at_least(minimum):
            raise Forbidden(f"This needs the {minimum.value} role in the workspace")
        return membership
