"""Who a verified access token speaks for, as the database says.

A token's signature proves only that this service issued it. Its claims are not authority: the
session it names (`sid`) must be live and belong to the user it names (`sub`), and that user's
role and active state are read from the database, never from the token. The session is looked
up on every call (one lookup by primary key, so that a logout applies at once); the user's
standing is kept a few seconds per process, and dropped at once when a change about the user
is announced (StaleCaches: role changed, deactivated, password changed...).
"""
from __future__ import annotations

from dataclasses import dataclass

from entities.actor import Actor
from entities.user import GlobalRole
from use_cases.identity.auth import Sessions
from use_cases.identity.ports import UserRepository
from use_cases.shared.stale_caches import StaleCaches
from use_cases.shared.ttl_cache import TtlCache

STANDING_TTL_S = 5.0


@dataclass(frozen=True)
class Standing:
    role: GlobalRole
    is_active: bool


class Principals:
    def __init__(self, users: UserRepository, sessions: Sessions, caches: StaleCaches,
                 standing_ttl_s: float = STANDING_TTL_S):
        self.users = users
        self.sessions = sessions
        self._standing = TtlCache(standing_ttl_s)
        caches.on_stale(self.forget)

    def session_is_live(self, user_id: str | None, session_id: str | None) -> bool:
        return self.sessions.is_live(session_id, user_id)

    def standing(self, user_id: str) -> Standing | None:
        """The user's role and active state (None: no such user), cached briefly."""
        def load() -> Standing | None:
            user = self.users.get(user_id)
            return Standing(user.role, user.is_active) if user is not None else None
        return self._standing.get_or_load(user_id, load)

    def actor_of(self, user_id: str, session_id: str | None, ip: str | None = None) -> Actor | None:
        """The Actor of an active user, with their stored role; None for an unknown or
        deactivated user. The session is checked apart (`session_is_live`)."""
        standing = self.standing(user_id)
        if standing is None or not standing.is_active:
            return None
        return Actor(user_id=user_id, role=standing.role, session_id=session_id, ip=ip)

    def actor(self, user_id: str | None, session_id: str | None,
              ip: str | None = None) -> Actor | None:
        """Both checks: the session live and the user's, the user active."""
        if not user_id or not self.session_is_live(user_id, session_id):
            return None
        return self.actor_of(user_id, session_id, ip)

    def forget(self, _workspace_id: str | None, user_id: str | None) -> None:
        if user_id:
            self._standing.pop(user_id)
