"""Interfaces the identity use cases need: users, login sessions, password hashing,
single-use tokens and mail.

Real implementations live in repositories/ and adapters/; unit tests use in-memory fakes.
"""
from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable
from datetime import datetime

from entities.pagination import Page, PageRequest
from entities.session import LoginSession
from entities.user import User


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
    def is_active(self, session_id: str, user_id: str | None = None) -> bool:
        """Live (not revoked, not expired) and, when `user_id` is given, that user's: the one
        check every authenticated request pays for, one lookup by primary key."""

    @abstractmethod
    def live_among(self, session_ids: Iterable[str]) -> set[str]:
        """Those of `session_ids` that are live: one query for every open channel of a process."""

    @abstractmethod
    def rotate(self, session_id: str, presented_jti: str, new_jti: str) -> bool:
        """Atomically swap the refresh jti if `presented_jti` is the current one."""

    @abstractmethod
    def revoke(self, session_id: str) -> None: ...

    @abstractmethod
    def revoke_all(self, user_id: str, except_session: str | None = None) -> None: ...

    @abstractmethod
    def list_active(self, user_id: str) -> list[LoginSession]: ...


class Mailer(ABC):
    @abstractmethod
    def send(self, to: str, subject: str, body: str, token: str | None = None) -> None:
        """Deliver (or queue) a message; raises entities.errors.ServiceUnavailable on failure.
        `subject` is the service's own text, never a user's; `body` is plain text (never HTML),
        where user-chosen text appears only through mail_text.quoted."""


class OneTimeTokenRepository(ABC):
    """Single-use tokens (password reset, e-mail verification), stored only as hashes."""

    @abstractmethod
    def add(self, purpose: str, token_hash: str, user_id: str, expires_at: datetime) -> None: ...

    @abstractmethod
    def find_valid(self, purpose: str, token_hash: str) -> str | None:
        """The user id of an unused, unexpired token, without spending it."""

    @abstractmethod
    def consume(self, purpose: str, token_hash: str) -> str | None:
        """Atomically spend an unused, unexpired token; its user id, or None."""

    @abstractmethod
    def discard_all(self, user_id: str, purpose: str) -> None:
        """Spend every outstanding token of this purpose for the user."""
