"""Accounts and login sessions: register, log in, rotate refresh tokens, log out."""
from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from datetime import timedelta

from entities.actor import Actor
from entities.clock import utcnow
from entities.errors import (
    Conflict,
    InvalidCredentials,
    NotFound,
    ServiceUnavailable,
    TokenRevoked,
    ValidationFailed,
)
from entities.session import LoginSession
from entities.user import GlobalRole, User, normalise_email
from entities.workspace import Membership, Workspace, WorkspaceRole
from use_cases.identity.email_verification import EmailVerification
from use_cases.identity.ports import PasswordHasher, SessionRepository, UserRepository
from use_cases.shared import global_feed
from use_cases.shared.ports import AuditLog, EventBus
from use_cases.shared.stale_caches import StaleCaches
from use_cases.workspaces.ports import MembershipRepository, WorkspaceRepository

log = logging.getLogger(__name__)

MIN_PASSWORD_LENGTH = 8


@dataclass
class LoginResult:
    user: User
    session: LoginSession


@dataclass(frozen=True)
class ClientInfo:
    ip: str | None = None
    user_agent: str | None = None


def check_password_strength(password: str, email: str, field: str = "password") -> None:
    problems = []
    if len(password) < MIN_PASSWORD_LENGTH:
        problems.append(f"Must be at least {MIN_PASSWORD_LENGTH} characters long.")
    if normalise_email(password) == normalise_email(email):
        problems.append("Must not be your e-mail address.")
    if problems:
        raise ValidationFailed("Password too weak", {field: problems})


class Sessions:
    """Creates, checks, rotates and revokes login sessions.

    Every revocation is announced (StaleCaches), whatever caused it: each process then ends the
    WebSockets and event streams of the ended sessions, and rechecks those of the user."""

    def __init__(self, sessions: SessionRepository, refresh_ttl_s: int, caches: StaleCaches):
        self.sessions = sessions
        self.refresh_ttl = timedelta(seconds=refresh_ttl_s)
        self.caches = caches

    def open(self, user: User, client: ClientInfo) -> LoginSession:
        now = utcnow()
        return self.sessions.add(LoginSession(
            id="", user_id=user.id, refresh_jti=uuid.uuid4().hex, expires_at=now + self.refresh_ttl,
            created_at=now, last_used_at=now, user_agent=(client.user_agent or "")[:256],
            ip=client.ip,
        ))

    def is_active(self, session_id: str | None) -> bool:
        return bool(session_id and self.sessions.is_active(session_id))

    def is_live(self, session_id: str | None, user_id: str | None) -> bool:
        """The session is live and belongs to `user_id`: what a token's `sid` and `sub` must
        satisfy together (a token naming another user's session is worth nothing)."""
        return bool(session_id and user_id and self.sessions.is_active(session_id, user_id))

    def live_among(self, session_ids: set[str]) -> set[str]:
        return self.sessions.live_among(session_ids) if session_ids else set()

    def rotate(self, session_id: str, presented_jti: str) -> LoginSession:
        """Spend a refresh token. Presenting a spent one revokes the whole session (reuse)."""
        new_jti = uuid.uuid4().hex
        if self.sessions.rotate(session_id, presented_jti, new_jti):
            session = self.sessions.get(session_id)
            if session is None:  # revoked (logged out) since the rotation
                raise TokenRevoked("The session has been revoked")
            return session
        self.revoke(session_id)
        raise TokenRevoked("Refresh token already used; the session has been revoked")

    def revoke(self, *session_ids: str) -> None:
        for session_id in session_ids:
            self.sessions.revoke(session_id)
        self._announce(session_ids=session_ids)

    def revoke_all(self, user_id: str, except_session: str | None = None) -> None:
        """The user's sessions end; each process rechecks the user's open channels (those of
        `except_session` stay)."""
        self.sessions.revoke_all(user_id, except_session=except_session)
        self._announce(user_id=user_id)

    def list_for(self, user_id: str) -> list[LoginSession]:
        return self.sessions.list_active(user_id)

    def belongs_to(self, session_id: str, user_id: str) -> bool:
        session = self.sessions.get(session_id)
        return session is not None and session.user_id == user_id

    def revoke_own(self, user_id: str, session_id: str) -> None:
        """Only the owner's live sessions exist for them; anything else is NotFound."""
        if not self.is_live(session_id, user_id):
            raise NotFound("Session not found")
        self.revoke(session_id)

    def _announce(self, user_id: str | None = None, session_ids: tuple[str, ...] = ()) -> None:
        try:
            self.caches.announce(user_id=user_id, session_ids=session_ids)
        except Exception:  # the sessions ended; open channels notice at their next recheck
            log.exception("could not announce ended sessions to the other processes")


class Accounts:
    def __init__(self, users: UserRepository, workspaces: WorkspaceRepository,
                 memberships: MembershipRepository, hasher: PasswordHasher, sessions: Sessions,
                 audit: AuditLog, verification: EmailVerification, events: EventBus):
        self.users = users
        self.workspaces = workspaces
        self.memberships = memberships
        self.hasher = hasher
        self.sessions = sessions
        self.audit = audit
        self.verification = verification
        self.events = events  # the global feed hears of new accounts
        self._dummy_hash: str | None = None

    def register(self, email: str, password: str, name: str, client: ClientInfo,
                 role: GlobalRole = GlobalRole.USER) -> LoginResult:
        user = self.create_account(email, password, name, role)
        self.audit.record("user.registered", user.id, "user", user.id, ip=client.ip)
        try:
            self.verification.send(user)
        except ServiceUnavailable:  # the account exists; the user can ask for the mail again
            log.warning("verification mail not sent", extra={"fields": {"user_id": user.id}})
        return LoginResult(user, self.sessions.open(user, client))

    def create_account(self, email: str, password: str, name: str,
                       role: GlobalRole = GlobalRole.USER, *, email_verified: bool = False,
                       enforce_password_rule: bool = True) -> User:
        """A user with their personal workspace. `enforce_password_rule=False` exists for demo
        data whose passwords are given by the source documents."""
        email = normalise_email(email)
        if enforce_password_rule:
            check_password_strength(password, email)
        if self.users.get_by_email(email):
            raise Conflict("An account with this e-mail already exists")
        now = utcnow()
        user = self.users.add(User(id="", email=email, name=name.strip(),
                                   password_hash=self.hasher.hash(password), role=role,
                                   email_verified=email_verified, created_at=now, updated_at=now))
        self.create_personal_workspace(user)
        global_feed.announce(self.events, {"type": "user.registered", "user_id": user.id,
                                           "email": user.email, "name": user.name})
        return user

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

    def logout(self, actor: Actor, refresh_session_id: str | None = None) -> None:
        """Ends the caller's session and, if a refresh token of another of their sessions was
        handed in, that one too."""
        ended = [actor.session_id] if actor.session_id else []
        if (refresh_session_id and refresh_session_id != actor.session_id
                and self.sessions.belongs_to(refresh_session_id, actor.user_id)):
            ended.append(refresh_session_id)
        if not ended:
            return
        self.sessions.revoke(*ended)
        self.audit.record("auth.logout", actor.user_id, "user", actor.user_id, ip=actor.ip,
                          details={"sessions": len(ended)})

    def logout_all(self, actor: Actor) -> None:
        self.sessions.revoke_all(actor.user_id)
        self.audit.record("auth.logout_all", actor.user_id, "user", actor.user_id, ip=actor.ip)

    def me(self, user_id: str) -> User:
        user = self.users.get(user_id)
        if not user:
            raise NotFound("User not found")
        return user

    def update_profile(self, actor: Actor, name: str | None = None) -> User:
        """Only the name: role, e-mail and status are changed elsewhere, by other rules."""
        if name is None:
            return self.me(actor.user_id)
        user = self.users.update(actor.user_id, name=name.strip())
        if user is None:
            raise NotFound("User not found")
        return user

    def _dummy(self) -> str:
        if self._dummy_hash is None:
            self._dummy_hash = self.hasher.hash(uuid.uuid4().hex)
        return self._dummy_hash
