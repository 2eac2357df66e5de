"""Workspaces: the tenants everything else belongs to, and who belongs to them."""
from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime

from entities.actor import Actor
from entities.clock import utcnow
from entities.errors import Conflict, Forbidden, NotFound, ValidationFailed
from entities.pagination import Page, PageRequest
from entities.user import normalise_email
from entities.workspace import Membership, Workspace, WorkspaceRole, WorkspaceSettings
from use_cases.identity.ports import UserRepository
from use_cases.shared import global_feed
from use_cases.shared.ports import AuditLog, EventBus
from use_cases.workspaces.access import WorkspaceAccess
from use_cases.workspaces.ports import MembershipRepository, WorkspaceRepository

OWNER = WorkspaceRole.OWNER
ADMIN = WorkspaceRole.ADMIN


@dataclass(frozen=True)
class Member:
    user_id: str
    email: str
    name: str
    role: WorkspaceRole
    joined_at: datetime | None
    monthly_budget_usd: float | None = None


class Workspaces:
    def __init__(self, workspaces: WorkspaceRepository, memberships: MembershipRepository,
                 access: WorkspaceAccess, users: UserRepository, audit: AuditLog,
                 events: EventBus):
        self.workspaces = workspaces
        self.memberships = memberships
        self.access = access
        self.users = users
        self.audit = audit
        self.events = events

    # --- the workspace itself ------------------------------------------------------------------

    def list_mine(self, actor: Actor, page: PageRequest) -> Page[tuple[Workspace, WorkspaceRole]]:
        return self.workspaces.list_for_user(actor.user_id, page)

    def create(self, actor: Actor, name: str, description: str = "",
               settings: dict | None = None) -> tuple[Workspace, WorkspaceRole]:
        now = utcnow()
        workspace = self.workspaces.add(Workspace(
            id="", name=name.strip(), owner_id=actor.user_id, description=description,
            settings=WorkspaceSettings(**(settings or {})), created_at=now, updated_at=now))
        self.memberships.add(Membership(workspace.id, actor.user_id, OWNER, now))
        self.audit.record("workspace.created", actor.user_id, "workspace", workspace.id,
                          workspace_id=workspace.id, ip=actor.ip)
        global_feed.announce(self.events, {"type": "workspace.created",
                                           "workspace_id": workspace.id, "name": workspace.name,
                                           "owner_id": actor.user_id})
        return workspace, OWNER

    def get(self, actor: Actor, workspace_id: str) -> tuple[Workspace, WorkspaceRole]:
        membership = self.access.require(actor.user_id, workspace_id)
        return self._workspace(workspace_id), membership.role

    def update(self, actor: Actor, workspace_id: str, name: str | None = None,
               description: str | None = None,
               settings: dict | None = None) -> tuple[Workspace, WorkspaceRole]:
        """`settings` is merged: keys left out keep their value, a null clears one."""
        membership = self.access.require(actor.user_id, workspace_id, ADMIN)
        workspace = self._workspace(workspace_id)
        changes: dict = {}
        if name is not None:
            changes["name"] = name.strip()
        if description is not None:
            changes["description"] = description
        if settings:
            changes["settings"] = replace(workspace.settings, **settings)
        if changes:
            workspace = self._found(self.workspaces.update(workspace_id, **changes))
            self.audit.record("workspace.updated", actor.user_id, "workspace", workspace_id,
                              workspace_id=workspace_id, ip=actor.ip,
                              details={"fields": sorted(changes)})
        return workspace, membership.role

    def delete(self, actor: Actor, workspace_id: str) -> None:
        """Soft delete: the workspace vanishes from every read until an owner restores it."""
        self.access.require(actor.user_id, workspace_id, OWNER)
        if self._workspace(workspace_id).is_personal:
            raise Conflict("A personal workspace cannot be deleted")
        self.workspaces.update(workspace_id, deleted_at=utcnow())
        self.audit.record("workspace.deleted", actor.user_id, "workspace", workspace_id,
                          workspace_id=workspace_id, ip=actor.ip)

    def restore(self, actor: Actor, workspace_id: str) -> tuple[Workspace, WorkspaceRole]:
        membership = self.memberships.get(workspace_id, actor.user_id)
        workspace = self.workspaces.get(workspace_id, include_deleted=True)
        if membership is None or workspace is None:
            raise NotFound("Workspace not found")
        if membership.role != OWNER:
            raise Forbidden("Only an owner can restore the workspace")
        if workspace.deleted_at is not None:
            workspace = self._found(self.workspaces.update(workspace_id, deleted_at=None))
            self.audit.record("workspace.restored", actor.user_id, "workspace", workspace_id,
                              workspace_id=workspace_id, ip=actor.ip)
        return workspace, OWNER

    # --- members -------------------------------------------------------------------------------

    def members(self, actor: Actor, workspace_id: str) -> list[Member]:
        self.access.require(actor.user_id, workspace_id)
        memberships = self.memberships.list(workspace_id)
        users = {user.id: user for user in self.users.get_many([m.user_id for m in memberships])}
        return [Member(m.user_id, users[m.user_id].email, users[m.user_id].name, m.role,
                       m.joined_at, m.monthly_budget_usd)
                for m in memberships if m.user_id in users]

    def add_member(self, actor: Actor, workspace_id: str, email: str,
                   role: WorkspaceRole = WorkspaceRole.MEMBER) -> Member:
        mine = self.access.require(actor.user_id, workspace_id, ADMIN)
        role = WorkspaceRole(role)
        if role == OWNER and mine.role != OWNER:
            raise Forbidden("Only an owner can grant the owner role")
        user = self.users.get_by_email(normalise_email(email))
        if user is None:
            raise NotFound("User not found")
        membership = self.memberships.add(Membership(workspace_id, user.id, role, utcnow()))
        member = Member(user.id, user.email, user.name, role, membership.joined_at)
        self.audit.record("member.added", actor.user_id, "user", user.id,
                          workspace_id=workspace_id, ip=actor.ip, details={"role": role.value})
        event = {"type": "member.added", "workspace_id": workspace_id, "user_id": user.id,
                 "role": role.value, "added_by": actor.user_id}
        self.events.publish(f"workspace:{workspace_id}", event)
        self.events.publish(f"user:{user.id}", event)
        return member

    def change_member_role(self, actor: Actor, workspace_id: str, user_id: str,
                           role: WorkspaceRole) -> Member:
        mine = self.access.require(actor.user_id, workspace_id, ADMIN)
        role = WorkspaceRole(role)
        target = self._membership(workspace_id, user_id)
        if OWNER in (role, target.role) and mine.role != OWNER:
            raise Forbidden("Only an owner can grant or remove the owner role")
        if role != target.role:
            # Conflict for the last owner: the store decides, so concurrent demotions cannot race
            self.memberships.set_role(workspace_id, user_id, role)
            self.audit.record("member.role_changed", actor.user_id, "user", user_id,
                              workspace_id=workspace_id, ip=actor.ip,
                              details={"from": target.role.value, "to": role.value})
        user = self.users.get(user_id)
        return Member(user_id, user.email if user else "", user.name if user else "", role,
                      target.joined_at, target.monthly_budget_usd)

    def set_member_budget(self, actor: Actor, workspace_id: str, user_id: str,
                          monthly_budget_usd: float | None) -> Member:
        """A member's own monthly budget in USD (admins; None: the workspace's default member
        budget, `settings.member_monthly_budget_usd`). It applies to their next model call."""
        self.access.require(actor.user_id, workspace_id, ADMIN)
        target = self._membership(workspace_id, user_id)
        if monthly_budget_usd is not None and monthly_budget_usd < 0:
            raise ValidationFailed("A budget cannot be negative",
                                   {"monthly_budget_usd": ["Must be 0 or more."]})
        self.memberships.set_budget(workspace_id, user_id, monthly_budget_usd)
        self.audit.record("member.budget_changed", actor.user_id, "user", user_id,
                          workspace_id=workspace_id, ip=actor.ip,
                          details={"monthly_budget_usd": monthly_budget_usd})
        user = self.users.get(user_id)
        return Member(user_id, user.email if user else "", user.name if user else "", target.role,
                      target.joined_at, monthly_budget_usd)

    def remove_member(self, actor: Actor, workspace_id: str, user_id: str) -> None:
        """Admins remove others (owners only by an owner); anyone may leave by themselves."""
        leaving = user_id == actor.user_id
        mine = self.access.require(actor.user_id, workspace_id,
                                   WorkspaceRole.VIEWER if leaving else ADMIN)
        target = mine if leaving else self._membership(workspace_id, user_id)
        if target.role == OWNER and mine.role != OWNER:
            raise Forbidden("Only an owner can remove an owner")
        self.memberships.remove(workspace_id, user_id)  # Conflict for the last owner
        self.audit.record("member.removed", actor.user_id, "user", user_id,
                          workspace_id=workspace_id, ip=actor.ip,
                          details={"role": target.role.value})

    # --- helpers -------------------------------------------------------------------------------

    def _workspace(self, workspace_id: str) -> Workspace:
        return self._found(self.workspaces.get(workspace_id))

    @staticmethod
    def _found(workspace: Workspace | None) -> Workspace:
        if workspace is None:
            raise NotFound("Workspace not found")
        return workspace

    def _membership(self, workspace_id: str, user_id: str) -> Membership:
        membership = self.memberships.get(workspace_id, user_id)
        if membership is None:
            raise NotFound("Member not found")
        return membership
