"""Accounts and login sessions: register, log in, rotate refresh tokens, log out."""
from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import timedelta

from entities.clock import utcnow
from entities.errors import Conflict, InvalidCredentials, NotFound, TokenRevoked, ValidationFailed
from entities.session import LoginSession
from entities.user import GlobalRole, User, normalise_email
from entities.workspace import Membership, Workspace, WorkspaceRole
from use_cases.ports import (
    AuditLog,
    MembershipRepository,
    PasswordHasher,
    SessionRepository,
    UserRepository,
    WorkspaceRepository,
)

MIN_PASSWORD_LENGTH = 8


@dataclass
class LoginResult:
    user: User
    session: LoginSession


@dataclass(frozen=True)
class ClientInfo:
    ip: str | None = None
    user_agent: str | None = None


def check_password_strength(password: str, email: str) -> None:
    problems = []
    if len(password) < MIN_PASSWORD_LENGTH:
        problems.append(f"Must be at least {MIN_PASSWORD_LENGTH} characters long.")
    if normalise_email(password) == normalise_email(email):
        problems.append("Must not be your e-mail address.")
    if problems:
        raise ValidationFailed("Password too weak", {"password": problems})


class Sessions:
    """Creates, checks, rotates and revokes login sessions."""

    def __init__(self, sessions: SessionRepository, refresh_ttl_s: int):
        self.sessions = sessions
        self.refresh_ttl = timedelta(seconds=refresh_ttl_s)

    def open(self, user: User, client: ClientInfo) -> LoginSession:
        now = utcnow()
        return self.sessions.add(LoginSession(
            id="", user_id=user.id, refresh_jti=uuid.uuid4().hex, expires_at=now + self.refresh_ttl,
            created_at=now, last_used_at=now, user_agent=(client.user_agent or "")[:256],
            ip=client.ip,
        ))

    def is_active(self, session_id: str | None) -> bool:
        return bool(session_id) and self.sessions.is_active(session_id)

    def rotate(self, session_id: str, presented_jti: str) -> LoginSession:
        """Spend a refresh token. Presenting a spent one revokes the whole session (reuse)."""
        new_jti = uuid.uuid4().hex
        if self.sessions.rotate(session_id, presented_jti, new_jti):
            return self.sessions.get(session_id)
        self.sessions.revoke(session_id)
        raise TokenRevoked("Refresh token already used; the session has been revoked")

    def revoke(self, session_id: str) -> None:
        self.sessions.revoke(session_id)


class Accounts:
    def __init__(self, users: UserRepository, workspaces: WorkspaceRepository,
                 memberships: MembershipRepository, hasher: PasswordHasher, sessions: Sessions,
                 audit: AuditLog):
        self.users = users
        self.workspaces = workspaces
        self.memberships = memberships
        self.hasher = hasher
        self.sessions = sessions
        self.audit = audit
        self._dummy_hash: str | None = None

    def register(self, email: str, password: str, name: str, client: ClientInfo,
                 role: GlobalRole = GlobalRole.USER) -> LoginResult:
        email = normalise_email(email)
        check_password_strength(password, email)
        if self.users.get_by_email(email):
            raise Conflict("An account with this e-mail already exists")
        now = utcnow()
        user = self.users.add(User(id="", email=email, name=name.strip(),
                                   password_hash=self.hasher.hash(password), role=role,
                                   created_at=now, updated_at=now))
        self.create_personal_workspace(user)
        self.audit.record("user.registered", user.id, "user", user.id, ip=client.ip)
        return LoginResult(user, self.sessions.open(user, client))

    def create_personal_workspace(self, user: User) -> Workspace:
        now = utcnow()
        workspace = self.workspaces.add(Workspace(
            id="", name=f"{user.name or user.email}'s workspace", owner_id=user.id,
            is_personal=True, created_at=now, updated_at=now))
        self.memberships.add(Membership(workspace.id, user.id, WorkspaceRole.OWNER, now))
        return workspace

    def login(self, email: str, password: str, client: ClientInfo) -> LoginResult:
        user = self.users.get_by_email(normalise_email(email))
        # Hash even for unknown e-mails so response time does not reveal which accounts exist.
        hashed = user.password_hash if user else self._dummy()
        valid = self.hasher.verify(password, hashed)
        if not user or not valid or not user.is_active:
            self.audit.record("auth.login_failed", user.id if user else None, "user",
                              user.id if user else None, ip=client.ip,
                              details={"email": normalise_email(email)})
            raise InvalidCredentials()
        self.audit.record("auth.login", user.id, "user", user.id, ip=client.ip)
        return LoginResult(user, self.sessions.open(user, client))

    def refresh(self, session_id: str, presented_jti: str) -> LoginResult:
        session = self.sessions.rotate(session_id, presented_jti)
        user = self.users.get(session.user_id)
        if not user or not user.is_active:
            self.sessions.revoke(session_id)
            raise TokenRevoked()
        return LoginResult(user, session)

    def me(self, user_id: str) -> User:
        user = self.users.get(user_id)
        if not user:
            raise NotFound("User not found")
        return user

    def _dummy(self) -> str:
        if self._dummy_hash is None:
            self._dummy_hash = self.hasher.hash(uuid.uuid4().hex)
        return self._dummy_hash
