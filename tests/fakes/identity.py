"""Fakes of the identity ports (use_cases/identity/ports.py), and `Identity`: the identity and
tenancy use cases built by bootstrap.identity on them, for every area's unit tests:

    identity = Identity()
    alice = identity.actor("alice@example.com")            # an Actor with a personal workspace
    ws = identity.workspaces.create(alice, "Team")[0].id
    identity.access.require(alice.user_id, ws, "member")    # the real WorkspaceAccess

Users, sessions, one-time tokens, workspaces, memberships, provider keys and the audit log are
the MongoDB repositories over one in-memory (mongomock) database.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from types import SimpleNamespace

from bootstrap.identity import build_identity
from entities.actor import Actor
from entities.user import GlobalRole
from repositories.one_time_tokens import MongoOneTimeTokenRepository
from repositories.provider_keys import MongoProviderKeyRepository
from repositories.sessions import MongoSessionRepository, to_session
from repositories.users import MongoUserRepository
from tests.fakes.database import StoredRows, memory_database, on_mongomock
from tests.fakes.shared import FakeEncryptor, FakeEventBus, FakeOutboundHttp, MongomockAuditLog
from tests.fakes.workspaces import MongomockWorkspaceRepository, membership_repository
from use_cases.identity.auth import ClientInfo
from use_cases.identity.ports import Mailer, PasswordHasher
from use_cases.shared.stale_caches import StaleCaches


class PlainHasher(PasswordHasher):
    """Cheap and transparent: unit tests need no bcrypt."""

    def hash(self, password: str) -> str:
        return f"plain:{password}"

    def verify(self, password: str, hashed: str) -> bool:
        return hashed == f"plain:{password}"


@dataclass
class SentMail:
    to: str
    subject: str
    body: str
    token: str | None


class FakeMailer(Mailer):
    """Keeps what it sends; raises `error` instead while it is set."""

    def __init__(self):
        self.sent: list[SentMail] = []
        self.error: Exception | None = None

    def send(self, to, subject, body, token=None) -> None:
        if self.error:
            raise self.error
        self.sent.append(SentMail(to, subject, body, token))

    def last_token(self, to: str) -> str | None:
        return next((mail.token for mail in reversed(self.sent) if mail.to == to), None)


class MongomockSessionRepository(MongoSessionRepository):
    """MongoSessionRepository, with its sessions as `rows` (session id -> LoginSession)."""

    @property
    def rows(self) -> StoredRows:
        return StoredRows(self.collection, to_session, live=False)


class MongomockOneTimeTokenRepository(MongoOneTimeTokenRepository):
    """MongoOneTimeTokenRepository, with its tokens as `rows` (token hash -> row)."""

    @property
    def rows(self) -> StoredRows:
        return StoredRows(self.collection, lambda doc: SimpleNamespace(**doc), key="token_hash")


@dataclass
class Identity:
    """Every identity and tenancy use case, built by bootstrap.identity on the fakes."""

    refresh_ttl_s: int = 3600
    db: object = field(default_factory=memory_database)
    mailer: FakeMailer = field(default_factory=FakeMailer)
    encryptor: FakeEncryptor = field(default_factory=FakeEncryptor)
    events: FakeEventBus = field(default_factory=FakeEventBus)
    hasher: PlainHasher = field(default_factory=PlainHasher)
    outbound: FakeOutboundHttp = field(default_factory=FakeOutboundHttp)

    def __post_init__(self):
        self.users = on_mongomock(MongoUserRepository, self.db)
        self.session_repo = on_mongomock(MongomockSessionRepository, self.db)
        self.token_repo = on_mongomock(MongomockOneTimeTokenRepository, self.db)
        self.memberships = membership_repository(self.db)
        self.workspace_repo = on_mongomock(MongomockWorkspaceRepository, self.db)
        self.key_repo = on_mongomock(MongoProviderKeyRepository, self.db)
        self.audit = on_mongomock(MongomockAuditLog, self.db)
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
