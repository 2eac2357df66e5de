"""Workspaces: the tenants everything else belongs to."""
from __future__ import annotations

from entities.actor import Actor
from entities.pagination import Page, PageRequest
from entities.workspace import Workspace, WorkspaceRole
from use_cases.access import WorkspaceAccess
from use_cases.ports import MembershipRepository, WorkspaceRepository


class Workspaces:
    def __init__(self, workspaces: WorkspaceRepository, memberships: MembershipRepository,
                 access: WorkspaceAccess):
        self.workspaces = workspaces
        self.memberships = memberships
        self.access = access

    def list_mine(self, actor: Actor, page: PageRequest) -> Page[tuple[Workspace, WorkspaceRole]]:
        return self.workspaces.list_for_user(actor.user_id, page)
