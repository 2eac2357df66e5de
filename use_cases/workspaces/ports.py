"""Interfaces the workspace use cases need: workspaces and their memberships.

Real implementations live in repositories/ and adapters/; unit tests use in-memory fakes.
"""
from __future__ import annotations

from abc import ABC, abstractmethod

from entities.pagination import Page, PageRequest
from entities.workspace import Membership, Workspace, WorkspaceRole


class WorkspaceRepository(ABC):
    @abstractmethod
    def add(self, workspace: Workspace) -> Workspace: ...

    @abstractmethod
    def get(self, workspace_id: str, include_deleted: bool = False) -> Workspace | None: ...

    @abstractmethod
    def get_personal(self, user_id: str) -> Workspace | None: ...

    @abstractmethod
    def update(self, workspace_id: str, **changes) -> Workspace | None: ...

    @abstractmethod
    def list_for_user(self, user_id: str, page: PageRequest) -> Page[tuple[Workspace, WorkspaceRole]]:
        """The user's live workspaces with their role, in one round trip."""


class MembershipRepository(ABC):
    """Memberships, and the rule that a workspace always keeps an owner: `set_role` and `remove`
    refuse (Conflict) to take the owner role from a workspace's last owner, decided by the store
    itself so that no interleaving of concurrent changes (two owners demoting each other at the
    same moment) can leave a workspace without one."""

    @abstractmethod
    def add(self, membership: Membership) -> Membership:
        """Conflict if the user is already a member."""

    @abstractmethod
    def get(self, workspace_id: str, user_id: str) -> Membership | None: ...

    @abstractmethod
    def list(self, workspace_id: str) -> list[Membership]: ...

    @abstractmethod
    def set_role(self, workspace_id: str, user_id: str, role: WorkspaceRole) -> None:
        """Conflict when it would leave the workspace without an owner."""

    @abstractmethod
    def set_budget(self, workspace_id: str, user_id: str, monthly_budget_usd: float | None) -> None:
        """The member's own monthly budget in USD (None: the workspace's member default)."""

    @abstractmethod
    def remove(self, workspace_id: str, user_id: str) -> None:
        """Conflict when it would leave the workspace without an owner."""

    @abstractmethod
    def count_role(self, workspace_id: str, role: WorkspaceRole) -> int: ...
