"""Interfaces of every repository and gateway the use cases need.

Real implementations live in repositories/ and adapters/; unit tests use in-memory fakes.
Sections are grouped by area; keep imports at the top.
"""
from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator
from datetime import datetime

from entities.llm import (
    ChatRequest,
    ChatResult,
    ModelInfo,
    ProviderCredential,
    StreamChunk,
    UsageRecord,
)
from entities.pagination import Page, PageRequest
from entities.session import LoginSession
from entities.user import User
from entities.workspace import Membership, Workspace, WorkspaceRole

# --- Service ------------------------------------------------------------------------------------

class DatabaseProbe(ABC):
    @abstractmethod
    def ping_ms(self) -> float:
        """Round-trip time of a trivial command; raises when the database is unreachable."""


# --- Events -------------------------------------------------------------------------------------

class Subscription(ABC):
    @abstractmethod
    def get(self, timeout: float) -> dict | None:
        """The next event ({"topic", ...payload}), or None after `timeout` seconds."""

    @abstractmethod
    def close(self) -> None: ...

    def __enter__(self) -> Subscription:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class EventBus(ABC):
    """Events that reach subscribers in every process (gunicorn worker, host) of the service."""

    @abstractmethod
    def publish(self, topic: str, event: dict) -> None: ...

    @abstractmethod
    def subscribe(self, topics: list[str]) -> Subscription: ...


# --- Identity and tenancy -----------------------------------------------------------------------

class PasswordHasher(ABC):
    @abstractmethod
    def hash(self, password: str) -> str: ...

    @abstractmethod
    def verify(self, password: str, hashed: str) -> bool: ...


class UserRepository(ABC):
    @abstractmethod
    def add(self, user: User) -> User:
        """Stores a new user and returns it with its id; Conflict if the email exists."""

    @abstractmethod
    def get(self, user_id: str) -> User | None: ...

    @abstractmethod
    def get_by_email(self, email: str) -> User | None: ...

    @abstractmethod
    def get_many(self, user_ids: list[str]) -> list[User]: ...

    @abstractmethod
    def update(self, user_id: str, **changes) -> User | None: ...

    @abstractmethod
    def search(self, query: str | None, page: PageRequest) -> Page[User]: ...


class SessionRepository(ABC):
    @abstractmethod
    def add(self, session: LoginSession) -> LoginSession: ...

    @abstractmethod
    def get(self, session_id: str) -> LoginSession | None: ...

    @abstractmethod
    def is_active(self, session_id: str) -> bool:
        """The one check every authenticated request pays for: one indexed lookup."""

    @abstractmethod
    def rotate(self, session_id: str, presented_jti: str, new_jti: str) -> bool:
        """Atomically swap the refresh jti if `presented_jti` is the current one."""

    @abstractmethod
    def revoke(self, session_id: str) -> None: ...

    @abstractmethod
    def revoke_all(self, user_id: str, except_session: str | None = None) -> None: ...

    @abstractmethod
    def list_active(self, user_id: str) -> list[LoginSession]: ...


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
    @abstractmethod
    def add(self, membership: Membership) -> Membership:
        """Conflict if the user is already a member."""

    @abstractmethod
    def get(self, workspace_id: str, user_id: str) -> Membership | None: ...

    @abstractmethod
    def list(self, workspace_id: str) -> list[Membership]: ...

    @abstractmethod
    def set_role(self, workspace_id: str, user_id: str, role: WorkspaceRole) -> None: ...

    @abstractmethod
    def remove(self, workspace_id: str, user_id: str) -> None: ...

    @abstractmethod
    def count_role(self, workspace_id: str, role: WorkspaceRole) -> int: ...


class Mailer(ABC):
    @abstractmethod
    def send(self, to: str, subject: str, body: str, token: str | None = None) -> None: ...


class AuditLog(ABC):
    @abstractmethod
    def record(self, action: str, actor_id: str | None, target_type: str | None = None,
               target_id: str | None = None, workspace_id: str | None = None,
               ip: str | None = None, details: dict | None = None) -> None: ...

    @abstractmethod
    def search(self, actor: str | None, action: str | None, since: datetime | None,
               until: datetime | None, page: PageRequest) -> Page[dict]: ...


# --- LLM gateway --------------------------------------------------------------------------------

class LLMGateway(ABC):
    """Every model call. Raises entities.errors.UpstreamError / UpstreamTimeout /
    UpstreamRateLimited once the router's retries and fallbacks are spent."""

    @abstractmethod
    def models(self, credentials: dict[str, ProviderCredential]) -> list[ModelInfo]: ...

    @abstractmethod
    def default_model(self, credentials: dict[str, ProviderCredential]) -> str: ...

    @abstractmethod
    def complete(self, request: ChatRequest) -> ChatResult: ...

    @abstractmethod
    def stream(self, request: ChatRequest) -> Iterator[StreamChunk]:
        """Yields text deltas; the last chunk carries the finished ChatResult."""

    @abstractmethod
    def count_tokens(self, model: str, messages: list[dict]) -> int: ...

    @abstractmethod
    def context_window(self, model: str) -> int: ...


class UsageRepository(ABC):
    @abstractmethod
    def add_many(self, records: list[UsageRecord]) -> None: ...


class ProviderCredentials(ABC):
    """A workspace's provider keys, decrypted for a call."""

    @abstractmethod
    def for_workspace(self, workspace_id: str | None) -> dict[str, ProviderCredential]: ...
