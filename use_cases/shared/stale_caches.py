"""Per-process caches that follow the truth on every worker.

Hot paths keep what they read (verified API keys, budgets, a workspace's provider keys) for a
few seconds per process. A change that must apply at once everywhere — a workspace deleted, a
member removed or demoted, a key revoked, a budget or provider key changed, a user deactivated —
is announced on the event bus (which reaches every process); each process's listener then drops
what it cached about that workspace or user.

What announces: `AnnouncingAuditLog`. Each such change is a security event the use cases already
write to the audit log with its workspace and target, whatever route or channel made it; the
actions in STALE_AFTER announce once their record is written. Ending login sessions announces
too (use_cases/identity/auth.py `Sessions`), with the ids of the sessions that ended, so that
open WebSockets and event streams of those sessions close on every worker.
"""
from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable, Iterable
from datetime import datetime

from entities.pagination import Page, PageRequest
from use_cases.shared.ports import AuditLog, EventBus

log = logging.getLogger(__name__)

TOPIC = "cache.stale"
# audited actions after which what a process cached about the workspace or user is wrong
# (logout-all, password changes, deactivation and role changes are not here: they end the user's
# sessions, and Sessions.revoke_all announces that itself)
STALE_AFTER = frozenset({
    "workspace.updated", "workspace.deleted", "member.removed", "member.role_changed",
    "member.budget_changed",
    "api_key.revoked", "provider_key.set", "provider_key.deleted",
})
Forget = Callable[[str | None, str | None], None]  # forget(workspace_id, user_id)
Ended = Callable[[list[str]], None]  # ended(session_ids)


def announced(event: dict) -> tuple[str | None, str | None, list[str]]:
    """(workspace_id, user_id, session_ids) of an announcement as it came through the bus."""
    return (event.get("workspace_id"), event.get("user_id"),
            [str(session_id) for session_id in event.get("session_ids") or ()])


class StaleCaches:
    """`announce(workspace_id, user_id, session_ids)` tells every process; `on_stale(forget)`
    registers what this process drops when told about a workspace or user, `on_sessions_ended`
    what it does when told that login sessions ended. `ensure_started()` runs the listener
    (after a fork too)."""

    def __init__(self, bus: EventBus):
        self.bus = bus
        self._forgetters: list[Forget] = []
        self._enders: list[Ended] = []
        self._thread: threading.Thread | None = None
        self._pid: int | None = None
        self._lock = threading.Lock()

    def on_stale(self, forget: Forget) -> None:
        self._forgetters.append(forget)

    def on_sessions_ended(self, ended: Ended) -> None:
        self._enders.append(ended)

    def announce(self, workspace_id: str | None = None, user_id: str | None = None,
                 session_ids: Iterable[str] = ()) -> None:
        session_ids = list(session_ids)
        # this process at once, the others through the bus
        self.forget(workspace_id, user_id, session_ids)
        self.bus.publish(TOPIC, {"workspace_id": workspace_id, "user_id": user_id,
                                 "session_ids": session_ids})

    def forget(self, workspace_id: str | None, user_id: str | None,
               session_ids: Iterable[str] = ()) -> None:
        if workspace_id or user_id:
            for forget in self._forgetters:
                forget(workspace_id, user_id)
        session_ids = [session_id for session_id in session_ids if session_id]
        if session_ids:
            for ended in self._enders:
                ended(session_ids)

    def heard(self, event: dict) -> None:
        """Acts on an announcement received from the bus."""
        self.forget(*announced(event))

    def ensure_started(self) -> None:
        if self._pid == os.getpid() and self._thread is not None and self._thread.is_alive():
            return
        with self._lock:
            if self._pid == os.getpid() and self._thread is not None and self._thread.is_alive():
                return
            self._pid = os.getpid()
            self._thread = threading.Thread(target=self._listen, name="stale-caches", daemon=True)
            self._thread.start()

    def _listen(self) -> None:
        with self.bus.subscribe([TOPIC]) as subscription:
            while not subscription.closed:
                event = subscription.get(timeout=1.0)
                if event is not None:
                    try:
                        self.heard(event)
                    except Exception:  # a bad handler must not stop invalidation for the others
                        log.exception("could not drop stale cache entries")


class AnnouncingAuditLog(AuditLog):
    """The audit log, announcing the changes in STALE_AFTER to the caches of their workspace
    and of the user they are about (target_type "user")."""

    def __init__(self, audit: AuditLog, caches: StaleCaches):
        self.audit = audit
        self.caches = caches

    def record(self, action: str, actor_id: str | None, target_type: str | None = None,
               target_id: str | None = None, workspace_id: str | None = None,
               ip: str | None = None, details: dict | None = None) -> None:
        self.audit.record(action, actor_id, target_type, target_id, workspace_id, ip, details)
        user_id = target_id if target_type == "user" else None
        if action in STALE_AFTER and (workspace_id or user_id):
            try:
                self.caches.announce(workspace_id, user_id)
            except Exception:  # the change is made; other processes catch up within their TTL
                log.exception("could not announce a change to the other processes")

    def search(self, actor: str | None, action: str | None, since: datetime | None,
               until: datetime | None, page: PageRequest) -> Page[dict]:
        return self.audit.search(actor, action, since, until, page)
