"""What global admins do: find and manage users, read the audit log.

The admin role is read from the database on every call, not from the token, so a demoted or
deactivated admin loses these powers at once."""
from __future__ import annotations

from datetime import datetime

from entities.actor import Actor
from entities.errors import Conflict, Forbidden, NotFound
from entities.pagination import Page, PageRequest
from entities.user import GlobalRole, User
from use_cases.identity.auth import Sessions
from use_cases.identity.ports import UserRepository
from use_cases.shared.ports import AuditLog


class UserAdministration:
    def __init__(self, users: UserRepository, sessions: Sessions, audit: AuditLog):
        self.users = users
        self.sessions = sessions
        self.audit = audit

    def require_admin(self, actor: Actor) -> User:
        user = self.users.get(actor.user_id)
        if user is None or not user.is_active or not user.is_admin:
            raise Forbidden("Administrators only")
        return user

    def list_users(self, actor: Actor, query: str | None, page: PageRequest) -> Page[User]:
        self.require_admin(actor)
        return self.users.search(query, page)

    def update_user(self, actor: Actor, user_id: str, role: GlobalRole | None = None,
                    is_active: bool | None = None) -> User:
        """Role changes and deactivation end the user's sessions, so their tokens (which carry
        the role) stop working at once."""
        self.require_admin(actor)
        target = self.users.get(user_id)
        if target is None:
            raise NotFound("User not found")
        changes: dict = {}
        if role is not None and role != target.role:
            changes["role"] = role
        if is_active is not None and is_active != target.is_active:
            changes["is_active"] = is_active
        if not changes:
            return target
        if target.id == actor.user_id:
            raise Conflict("Administrators cannot change their own role or deactivate themselves")
        updated = self.users.update(target.id, **changes)
        if updated is None:
            raise NotFound("User not found")
        self.sessions.revoke_all(target.id)
        if "role" in changes:
            self.audit.record("user.role_changed", actor.user_id, "user", target.id, ip=actor.ip,
                              details={"from": target.role.value, "to": changes["role"].value})
        if "is_active" in changes:
            action = "user.activated" if is_active else "user.deactivated"
            self.audit.record(action, actor.user_id, "user", target.id, ip=actor.ip)
        return updated

    def audit_log(self, actor: Actor, actor_id: str | None, action: str | None,
                  since: datetime | None, until: datetime | None, page: PageRequest) -> Page[dict]:
        self.require_admin(actor)
        return self.audit.search(actor_id, action, since, until, page)
