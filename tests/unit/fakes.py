"""In-memory fakes of the identity and tenancy ports, and `Identity`: the use cases built on them.

Reusable by every area's unit tests:

    identity = Identity()
    alice = identity.actor("alice@example.com")            # an Actor with a personal workspace
    ws = identity.workspaces.create(alice, "Team")[0].id
    identity.access.require(alice.user_id, ws, "member")    # the real WorkspaceAccess
"""
from __future__ import annotations

import re
import secrets
from dataclasses import dataclass, field, replace
from datetime import datetime
from urllib.parse import urlsplit

from bootstrap.identity import build_identity
from entities.actor import Actor
from entities.clock import utcnow
from entities.errors import Conflict
from entities.outbound import HttpResponse, OutboundRefused
from entities.pagination import Page, PageRequest
from entities.provider_key import StoredProviderKey
from entities.session import LoginSession
from entities.user import GlobalRole, User
from entities.workspace import Membership, Workspace, WorkspaceRole
from use_cases.gateway.ports import ProviderKeyRepository
from use_cases.identity.auth import ClientInfo
from use_cases.identity.ports import (
    Mailer,
    OneTimeTokenRepository,
    PasswordHasher,
    SessionRepository,
    UserRepository,
)
from use_cases.shared.ports import AuditLog, Encryptor, EventBus, OutboundHttp, Subscription
from use_cases.shared.stale_caches import StaleCaches
from use_cases.workspaces.ports import MembershipRepository, WorkspaceRepository


def new_id() -> str:
    return secrets.token_hex(12)


def page_of(items: list, request: PageRequest) -> Page:
    return Page(items[request.skip:request.skip + request.size], request.page, request.size,
                len(items))


class PlainHasher(PasswordHasher):
    """Cheap and transparent: unit tests need no bcrypt."""

    def hash(self, password: str) -> str:
        return f"plain:{password}"

    def verify(self, password: str, hashed: str) -> bool:
        return hashed == f"plain:{password}"


class FakeUserRepository(UserRepository):
    def __init__(self):
        self.rows: dict[str, User] = {}

    def add(self, user: User) -> User:
        if any(row.email == user.email for row in self.rows.values()):
            raise Conflict("An account with this e-mail already exists")
        stored = replace(user, id=new_id())
        self.rows[stored.id] = stored
        return replace(stored)

    def get(self, user_id: str) -> User | None:
        row = self.rows.get(user_id)
        return replace(row) if row else None

    def get_by_email(self, email: str) -> User | None:
        return next((replace(row) for row in self.rows.values() if row.email == email), None)

    def get_many(self, user_ids: list[str]) -> list[User]:
        return [replace(self.rows[i]) for i in user_ids if i in self.rows]

    def update(self, user_id: str, **changes) -> User | None:
        if user_id not in self.rows:
            return None
        self.rows[user_id] = replace(self.rows[user_id], **changes, updated_at=utcnow())
        return replace(self.rows[user_id])

    def search(self, query: str | None, page: PageRequest) -> Page[User]:
        pattern = re.compile(re.escape(query or ""), re.I)
        found = [row for row in self.rows.values()
                 if pattern.search(row.email) or pattern.search(row.name)]
        return page_of(found, page)


class FakeSessionRepository(SessionRepository):
    def __init__(self):
        self.rows: dict[str, LoginSession] = {}

    def add(self, session: LoginSession) -> LoginSession:
        stored = replace(session, id=new_id())
        self.rows[stored.id] = stored
        return replace(stored)

    def get(self, session_id: str) -> LoginSession | None:
        row = self.rows.get(session_id)
        return replace(row) if row else None

    def is_active(self, session_id: str, user_id: str | None = None) -> bool:
        row = self.rows.get(session_id)
        return (bool(row) and row.revoked_at is None and row.expires_at > utcnow()
                and user_id in (None, row.user_id))

    def live_among(self, session_ids) -> set[str]:
        return {session_id for session_id in session_ids if self.is_active(session_id)}

    def rotate(self, session_id: str, presented_jti: str, new_jti: str) -> bool:
        row = self.rows.get(session_id)
        if not self.is_active(session_id) or row.refresh_jti != presented_jti:
            return False
        self.rows[session_id] = replace(row, refresh_jti=new_jti, last_used_at=utcnow())
        return True

    def revoke(self, session_id: str) -> None:
        row = self.rows.get(session_id)
        if row and row.revoked_at is None:
            self.rows[session_id] = replace(row, revoked_at=utcnow())

    def revoke_all(self, user_id: str, except_session: str | None = None) -> None:
        for row in list(self.rows.values()):
            if row.user_id == user_id and row.id != except_session:
                self.revoke(row.id)

    def list_active(self, user_id: str) -> list[LoginSession]:
        return [replace(row) for row in self.rows.values()
                if row.user_id == user_id and self.is_active(row.id)]


class FakeMembershipRepository(MembershipRepository):
    def __init__(self):
        self.rows: dict[tuple[str, str], Membership] = {}

    def add(self, membership: Membership) -> Membership:
        key = (membership.workspace_id, membership.user_id)
        if key in self.rows:
            raise Conflict("The user is already a member of this workspace")
        self.rows[key] = replace(membership)
        return replace(membership)

    def get(self, workspace_id: str, user_id: str) -> Membership | None:
        row = self.rows.get((workspace_id, user_id))
        return replace(row) if row else None

    def list(self, workspace_id: str) -> list[Membership]:
        return [replace(row) for (ws, _), row in self.rows.items() if ws == workspace_id]

    def set_role(self, workspace_id: str, user_id: str, role: WorkspaceRole) -> None:
        key = (workspace_id, user_id)
        if key in self.rows:
            self.rows[key] = replace(self.rows[key], role=role)

    def set_budget(self, workspace_id: str, user_id: str, monthly_budget_usd: float | None) -> None:
        key = (workspace_id, user_id)
        if key in self.rows:
            self.rows[key] = replace(self.rows[key], monthly_budget_usd=monthly_budget_usd)

    def remove(self, workspace_id: str, user_id: str) -> None:
        self.rows.pop((workspace_id, user_id), None)

    def count_role(self, workspace_id: str, role: WorkspaceRole) -> int:
        return sum(1 for row in self.list(workspace_id) if row.role == role)


class FakeWorkspaceRepository(WorkspaceRepository):
    def __init__(self, memberships: FakeMembershipRepository):
        self.rows: dict[str, Workspace] = {}
        self.memberships = memberships

    def add(self, workspace: Workspace) -> Workspace:
        stored = replace(workspace, id=new_id())
        self.rows[stored.id] = stored
        return replace(stored)

    def get(self, workspace_id: str, include_deleted: bool = False) -> Workspace | None:
        row = self.rows.get(workspace_id)
        if row is None or (row.deleted_at is not None and not include_deleted):
            return None
        return replace(row)

    def get_personal(self, user_id: str) -> Workspace | None:
        return next((replace(row) for row in self.rows.values()
                     if row.owner_id == user_id and row.is_personal and row.deleted_at is None),
                    None)

    def update(self, workspace_id: str, **changes) -> Workspace | None:
        if workspace_id not in self.rows:
            return None
        self.rows[workspace_id] = replace(self.rows[workspace_id], **changes, updated_at=utcnow())
        return replace(self.rows[workspace_id])

    def list_for_user(self, user_id: str, page: PageRequest) -> Page[tuple[Workspace, WorkspaceRole]]:
        mine = [(self.get(ws), row.role) for (ws, uid), row in self.memberships.rows.items()
                if uid == user_id and self.get(ws) is not None]
        mine.sort(key=lambda pair: not pair[0].is_personal)
        return page_of(mine, page)


class FakeAuditLog(AuditLog):
    def __init__(self):
        self.entries: list[dict] = []

    def record(self, action, actor_id, target_type=None, target_id=None, workspace_id=None,
               ip=None, details=None) -> None:
        self.entries.append({"action": action, "actor_id": actor_id, "target_type": target_type,
                             "target_id": target_id, "workspace_id": workspace_id, "ip": ip,
                             "details": details or {}, "at": utcnow()})

    def search(self, actor, action, since, until, page) -> Page[dict]:
        found = [entry for entry in reversed(self.entries)
                 if (not actor or entry["actor_id"] == actor)
                 and (not action or entry["action"] == action)
                 and (not since or entry["at"] >= since) and (not until or entry["at"] < until)]
        return page_of(found, page)

    def actions(self) -> list[str]:
        return [entry["action"] for entry in self.entries]


@dataclass
class SentMail:
    to: str
    subject: str
    body: str
    token: str | None


class FakeMailer(Mailer):
    def __init__(self):
        self.sent: list[SentMail] = []
        self.error: Exception | None = None

    def send(self, to, subject, body, token=None) -> None:
        if self.error:
            raise self.error
        self.sent.append(SentMail(to, subject, body, token))

    def last_token(self, to: str) -> str | None:
        return next((mail.token for mail in reversed(self.sent) if mail.to == to), None)


@dataclass
class _Token:
    purpose: str
    user_id: str
    expires_at: datetime
    used_at: datetime | None = None


class FakeOneTimeTokenRepository(OneTimeTokenRepository):
    def __init__(self):
        self.rows: dict[str, _Token] = {}

    def add(self, purpose, token_hash, user_id, expires_at) -> None:
        self.rows[token_hash] = _Token(purpose, user_id, expires_at)

    def _valid(self, purpose, token_hash) -> _Token | None:
        row = self.rows.get(token_hash)
        if row and row.purpose == purpose and row.used_at is None and row.expires_at > utcnow():
            return row
        return None

    def find_valid(self, purpose, token_hash) -> str | None:
        row = self._valid(purpose, token_hash)
        return row.user_id if row else None

    def consume(self, purpose, token_hash) -> str | None:
        row = self._valid(purpose, token_hash)
        if row is None:
            return None
        row.used_at = utcnow()
        return row.user_id

    def discard_all(self, user_id, purpose) -> None:
        for row in self.rows.values():
            if row.user_id == user_id and row.purpose == purpose and row.used_at is None:
                row.used_at = utcnow()


class FakeEncryptor(Encryptor):
    """Reversible and recognisable, so tests can tell ciphertext from plaintext."""

    def encrypt(self, plaintext: str) -> str:
        return "enc:" + plaintext[::-1]

    def decrypt(self, ciphertext: str) -> str:
        if not ciphertext.startswith("enc:"):
            raise ValueError("not ours")
        return ciphertext[4:][::-1]


class FakeProviderKeyRepository(ProviderKeyRepository):
    def __init__(self):
        self.rows: dict[tuple[str, str], StoredProviderKey] = {}

    def put(self, key: StoredProviderKey) -> StoredProviderKey:
        self.rows[(key.workspace_id, key.provider)] = key
        return key

    def list(self, workspace_id: str) -> list[StoredProviderKey]:
        return sorted((key for (ws, _), key in self.rows.items() if ws == workspace_id),
                      key=lambda key: key.provider)

    def delete(self, workspace_id: str, provider: str) -> bool:
        return self.rows.pop((workspace_id, provider), None) is not None


class FakeSubscription(Subscription):
    def __init__(self, bus: FakeEventBus, topics: list[str]):
        self.bus = bus
        self.topics = topics

    def get(self, timeout: float) -> dict | None:
        for index, event in enumerate(self.bus.published):
            if event["topic"] in self.topics:
                return self.bus.published.pop(index)
        return None

    def close(self) -> None:
        pass


class FakeEventBus(EventBus):
    def __init__(self):
        self.published: list[dict] = []

    def publish(self, topic: str, event: dict) -> None:
        self.published.append({"topic": topic, **event})

    def subscribe(self, topics: list[str]) -> Subscription:
        return FakeSubscription(self, topics)

    def on(self, topic: str) -> list[dict]:
        return [event for event in self.published if event["topic"] == topic]


PRIVATE_HOST = re.compile(r"^(localhost|127\.|10\.|192\.168\.|169\.254\.|172\.(1[6-9]|2\d|3[01])\.|::1$)")


class FakeOutbound(OutboundHttp):
    """Public-looking http(s) URLs pass; loopback, private and link-local addresses are refused,
    as the real client refuses them once resolved. Requests reach nothing and answer 200."""

    def __init__(self):
        self.requests: list[tuple[str, str]] = []

    def check_url(self, url):
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise OutboundRefused("Only http and https URLs with a host are allowed")
        if PRIVATE_HOST.match(parts.hostname):
            raise OutboundRefused(f"{parts.hostname} is not a public address")

    def request(self, method, url, headers=None, body=None, timeout_s=10.0, max_bytes=1 << 20):
        self.check_url(url)
        self.requests.append((method, url))
        return HttpResponse(200, url=url)


@dataclass
class Identity:
    """Every identity and tenancy use case, built by bootstrap.identity on the fakes above."""

    refresh_ttl_s: int = 3600
    users: FakeUserRepository = field(default_factory=FakeUserRepository)
    session_repo: FakeSessionRepository = field(default_factory=FakeSessionRepository)
    memberships: FakeMembershipRepository = field(default_factory=FakeMembershipRepository)
    audit: FakeAuditLog = field(default_factory=FakeAuditLog)
    mailer: FakeMailer = field(default_factory=FakeMailer)
    token_repo: FakeOneTimeTokenRepository = field(default_factory=FakeOneTimeTokenRepository)
    key_repo: FakeProviderKeyRepository = field(default_factory=FakeProviderKeyRepository)
    encryptor: FakeEncryptor = field(default_factory=FakeEncryptor)
    events: FakeEventBus = field(default_factory=FakeEventBus)
    hasher: PlainHasher = field(default_factory=PlainHasher)
    outbound: FakeOutbound = field(default_factory=FakeOutbound)

    def __post_init__(self):
        self.workspace_repo = FakeWorkspaceRepository(self.memberships)
        self.stale_caches = StaleCaches(self.events)
        built = build_identity(
            users=self.users, workspace_repo=self.workspace_repo, memberships=self.memberships,
            session_repo=self.session_repo, token_repo=self.token_repo,
            provider_key_repo=self.key_repo, hasher=self.hasher, mailer=self.mailer,
            encryptor=self.encryptor, outbound=self.outbound, audit=self.audit,
            events=self.events, stale_caches=self.stale_caches, refresh_ttl_s=self.refresh_ttl_s)
        self.sessions = built.sessions
        self.principals = built.principals
        self.revocations = built.revocations
        self.access = built.access
        self.email_verification = built.email_verification
        self.accounts = built.accounts
        self.passwords = built.passwords
        self.admin = built.admin
        self.workspaces = built.workspaces
        self.provider_keys = built.provider_keys
        self.provider_credentials = built.provider_credentials

    def register(self, email: str, password: str = "correct-horse-1", name: str = "Test",
                 role: GlobalRole = GlobalRole.USER):
        return self.accounts.register(email, password, name, ClientInfo(ip="127.0.0.1"), role)

    def actor(self, email: str, role: GlobalRole = GlobalRole.USER,
              password: str = "correct-horse-1") -> Actor:
        """A registered user, logged in: the Actor a verified access token would give."""
        result = self.register(email, password, role=role)
        return Actor(result.user.id, result.user.role, session_id=result.session.id,
                     ip="127.0.0.1")

    def personal_workspace(self, actor: Actor) -> str:
        return self.workspace_repo.get_personal(actor.user_id).id
