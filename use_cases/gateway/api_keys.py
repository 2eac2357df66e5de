"""Workspace API keys (`sk-syn-...`): created and revoked by workspace admins, presented by
scripts and chat UIs to the OpenAI-compatible routes.

Only the SHA-256 of a key is stored: the secret is 256 random bits, so a fast hash is safe
(nothing to brute-force) and lets a key be found by an indexed lookup. Verification is cached per
process for `cache_ttl_s`: a revoked key stops at once on the worker that revoked it and within
the TTL everywhere else, and so do the keys of a deleted workspace or of a deactivated creator.
`last_used_at` is written at most once per `touch_interval_s` per key and process, folded into a
lookup the cache needed anyway.
"""
from __future__ import annotations

import hashlib
import secrets
import time
from collections.abc import Callable
from datetime import datetime

from entities.actor import Actor
from entities.api_key import KEY_PREFIX, ApiKey
from entities.clock import utcnow
from entities.errors import NotFound, TokenExpired, TokenRevoked, Unauthorized, ValidationFailed
from entities.workspace import WorkspaceRole
from use_cases.gateway.ports import ApiKeyRepository
from use_cases.identity.ports import UserRepository
from use_cases.shared.ports import AuditLog
from use_cases.shared.ttl_cache import TtlCache
from use_cases.workspaces.access import WorkspaceAccess
from use_cases.workspaces.ports import WorkspaceRepository

SECRET_BYTES = 32


def hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def is_api_key(token: str) -> bool:
    return token.startswith(KEY_PREFIX)


def hint_of(secret: str) -> str:
    return f"{KEY_PREFIX}...{secret[-4:]}"


class ApiKeys:
    def __init__(self, keys: ApiKeyRepository, workspaces: WorkspaceRepository,
                 users: UserRepository, access: WorkspaceAccess, audit: AuditLog,
                 cache_ttl_s: float = 5.0,
                 touch_interval_s: float = 60.0, clock: Callable[[], datetime] = utcnow,
                 monotonic: Callable[[], float] = time.monotonic):
        self.keys = keys
        self.workspaces = workspaces
        self.users = users
        self.access = access
        self.audit = audit
        self.touch_interval_s = touch_interval_s
        self.clock = clock
        self.monotonic = monotonic
        self._verified = TtlCache(cache_ttl_s, clock=monotonic)  # key hash -> ApiKey | None
        self._touched: dict[str, float] = {}  # key hash -> when last_used_at was last written

    # --- management (workspace admins) ------------------------------------------------------

    def list(self, actor: Actor, workspace_id: str) -> list[ApiKey]:
        self.access.require(actor.user_id, workspace_id, WorkspaceRole.ADMIN)
        return self.keys.list(workspace_id)

    def create(self, actor: Actor, workspace_id: str, name: str,
               expires_at: datetime | None = None,
               monthly_budget_usd: float | None = None) -> tuple[ApiKey, str]:
        """The new key and its secret, which is never shown again."""
        self.access.require(actor.user_id, workspace_id, WorkspaceRole.ADMIN)
        name = (name or "").strip()
        if not name:
            raise ValidationFailed("The key needs a name", {"name": ["Must not be blank."]})
        now = self.clock()
        if expires_at is not None and expires_at <= now:
            raise ValidationFailed("expires_at is in the past",
                                   {"expires_at": ["Must be in the future."]})
        secret = KEY_PREFIX + secrets.token_urlsafe(SECRET_BYTES)
        key = self.keys.add(ApiKey(
            id="", workspace_id=workspace_id, name=name, key_hash=hash_secret(secret),
            key_hint=hint_of(secret), created_by=actor.user_id, created_at=now,
            expires_at=expires_at, monthly_budget_usd=monthly_budget_usd))
        self.audit.record("api_key.created", actor.user_id, "api_key", key.id,
                          workspace_id=workspace_id, ip=actor.ip,
                          details={"name": name, "key_hint": key.key_hint})
        return key, secret

    def revoke(self, actor: Actor, workspace_id: str, key_id: str) -> None:
        self.access.require(actor.user_id, workspace_id, WorkspaceRole.ADMIN)
        key = self.keys.revoke(workspace_id, key_id, self.clock())
        if key is None:
            raise NotFound("API key not found")
        self._verified.pop(key.key_hash)
        self.audit.record("api_key.revoked", actor.user_id, "api_key", key.id,
                          workspace_id=workspace_id, ip=actor.ip,
                          details={"name": key.name, "key_hint": key.key_hint})

    # --- verification (every /v1 request made with a key) -----------------------------------

    def authenticate(self, secret: str, ip: str | None = None) -> Actor:
        """The Actor a key stands for: its creator's id, acting in the key's workspace with
        member rights. Unauthorized (token_revoked / token_expired) otherwise."""
        if not is_api_key(secret):
            raise Unauthorized("Invalid API key")
        key_hash = hash_secret(secret)
        key = self._verified.get_or_load(key_hash, lambda: self._load(key_hash))
        if key is None:
            raise Unauthorized("Invalid API key")
        if key.revoked_at is not None:
            raise TokenRevoked("This API key has been revoked")
        if key.expired(self.clock()):
            raise TokenExpired("This API key has expired")
        return Actor(user_id=key.created_by, api_key_id=key.id,
                     api_key_workspace_id=key.workspace_id, ip=ip)

    def _load(self, key_hash: str) -> ApiKey | None:
        now = self.monotonic()
        touch = now - self._touched.get(key_hash, -self.touch_interval_s) >= self.touch_interval_s
        key = self.keys.find_by_hash(key_hash, touch_at=self.clock() if touch else None)
        if key is None:
            return None
        if touch and key.revoked_at is None:
            self._touched[key_hash] = now
        if self.workspaces.get(key.workspace_id) is None:  # the workspace was deleted
            return None
        creator = self.users.get(key.created_by)
        if creator is None or not creator.is_active:  # a deactivated user's keys stop too
            return None
        membership = self.access.memberships.get(key.workspace_id, key.created_by)
        if membership is None or not membership.role.at_least(WorkspaceRole.MEMBER):
            return None  # a key acts for its creator: not beyond what the creator may do
        return key

    def forget(self, workspace_id: str | None, user_id: str | None) -> None:
        """Drops verified keys of this workspace or created by this user (StaleCaches)."""
        self._verified.discard_where(lambda _hash, key: key is not None and (
            key.workspace_id == workspace_id or key.created_by == user_id))
