"""Long-lived channels (WebSockets, event streams) end when their caller's rights do.

A channel is authenticated once, when it opens, and may then stay open for hours. Each open
channel therefore holds a `Watch` of its login session, which it asks before every event it
sends (`live()`, cheap) and before acting on anything its client sends (`confirm()`, one lookup
of the session, like an HTTP request).

A watch learns at once, from the announcements that reach every process (StaleCaches), that:
- its session ended (logout, `DELETE /sessions/{id}`, a reused refresh token, and every
  revocation below): it is dead, with no lookup;
- something changed about its user (logout-all, password change or reset, deactivation, role
  change, removal from a workspace) or about the workspace it is scoped to (deleted, member
  removed): on its next turn it rechecks against the database: the session live and its user's,
  the user active, and the channel's own rule (`allowed`: the talk still visible...).

In case an announcement is lost, each process also checks the sessions of all its open channels
every `recheck_s` seconds, in one query, and each channel rechecks its own rule every
`rule_recheck_s` seconds.
"""
from __future__ import annotations

import logging
import threading
import time
import weakref
from collections import OrderedDict
from collections.abc import Callable

from entities.actor import Actor
from entities.errors import Forbidden, NotFound
from use_cases.identity.principals import Principals
from use_cases.shared.stale_caches import StaleCaches, announced

log = logging.getLogger(__name__)

RECHECK_S = 5.0  # every open channel's session, one query per process
RULE_RECHECK_S = 60.0  # each channel's own rule, without an announcement
ENDED_MEMORY = 10_000  # ended session ids remembered per process (newest kept)

Allowed = Callable[[], object]  # raises NotFound or Forbidden once the channel is not allowed


class Watch:
    """One open channel's view of its caller's rights. `live()` and `confirm()` are called by
    the channel's thread; `hear` by whichever thread learnt of a change."""

    def __init__(self, revocations: Revocations, actor: Actor, workspace_id: str | None,
                 allowed: Allowed | None):
        self.revocations = revocations
        self.user_id = actor.user_id
        self.session_id = actor.session_id
        self.workspace_id = workspace_id
        self.allowed = allowed
        self.ended = False
        self._told = False
        self._next_rule_check = revocations.clock() + revocations.rule_recheck_s

    def hear(self, workspace_id: str | None, user_id: str | None,
             session_ids: list[str]) -> None:
        if self.session_id in session_ids:
            self.ended = True
        elif user_id == self.user_id or (workspace_id and workspace_id == self.workspace_id):
            self._told = True

    def hear_event(self, event: dict) -> None:
        """An announcement the channel received on its own subscription (stale_caches.TOPIC):
        heard in order with the channel's other events."""
        self.hear(*announced(event))

    def live(self) -> bool:
        """False once the channel must end. Cheap: what is known, rechecked against the database
        when told of a change (or when a periodic check is due). A failed recheck (database
        away) keeps the last answer and asks again on the next turn."""
        if self.ended:
            return False
        self.revocations.sweep_if_due()
        if self._told or self.revocations.clock() >= self._next_rule_check:
            self._told = False  # before checking: a change heard meanwhile asks again
            try:
                self._check(with_rule=True)
            except Exception:
                log.warning("could not recheck an open channel's session", exc_info=True)
                self._told = True
        return not self.ended

    def confirm(self) -> bool:
        """Checks the session in the database now: the channel is about to act on a client's
        frame, which must not happen once the session ended, even before the news arrived."""
        if not self.ended:
            self._check(with_rule=False)
        return not self.ended

    def close(self) -> None:
        self.revocations.forget(self)

    def __enter__(self) -> Watch:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _check(self, with_rule: bool) -> None:
        if with_rule:
            self._next_rule_check = self.revocations.clock() + self.revocations.rule_recheck_s
        if not self.revocations.still_valid(self.user_id, self.session_id):
            self.ended = True
            return
        if with_rule and self.allowed is not None:
            try:
                self.allowed()
            except (NotFound, Forbidden):
                self.ended = True


class Revocations:
    """This process's open channels and the sessions it knows have ended."""

    def __init__(self, principals: Principals, caches: StaleCaches, recheck_s: float = RECHECK_S,
                 rule_recheck_s: float = RULE_RECHECK_S,
                 clock: Callable[[], float] = time.monotonic):
        self.principals = principals
        self.recheck_s = recheck_s
        self.rule_recheck_s = rule_recheck_s
        self.clock = clock
        # weak: a stream dropped before it started (its `finally` never runs) leaves nothing
        self._watches: weakref.WeakSet[Watch] = weakref.WeakSet()
        self._ended: OrderedDict[str, None] = OrderedDict()
        self._lock = threading.Lock()
        self._sweeping = threading.Lock()
        self._next_sweep = clock() + recheck_s
        caches.on_stale(self._stale)
        caches.on_sessions_ended(self._sessions_ended)

    def watch(self, actor: Actor, workspace_id: str | None = None,
              allowed: Allowed | None = None) -> Watch:
        """A watch of `actor`'s session for a channel, scoped to `workspace_id` when it shows
        that workspace's resources; `allowed` is the channel's own rule, rechecked with it."""
        watch = Watch(self, actor, workspace_id, allowed)
        with self._lock:
            self._watches.add(watch)
            watch.ended = actor.session_id is None or actor.session_id in self._ended
        return watch

    def forget(self, watch: Watch) -> None:
        with self._lock:
            self._watches.discard(watch)

    def still_valid(self, user_id: str, session_id: str | None) -> bool:
        if session_id is None or self.is_ended(session_id):
            return False
        return self.principals.actor(user_id, session_id) is not None

    def is_ended(self, session_id: str) -> bool:
        with self._lock:
            return session_id in self._ended

    def open_channels(self) -> int:
        with self._lock:
            return len(self._watches)

    def sweep_if_due(self) -> None:
        """Every `recheck_s`, whichever channel comes first checks the sessions of all open
        channels in one query; those that ended end their channels."""
        if self.clock() < self._next_sweep or not self._sweeping.acquire(blocking=False):
            return
        try:
            if self.clock() < self._next_sweep:
                return
            self._next_sweep = self.clock() + self.recheck_s
            with self._lock:
                watched = {w.session_id for w in self._watches if w.session_id and not w.ended}
            ended = watched - self.principals.sessions.live_among(watched)
            if ended:
                self._sessions_ended(sorted(ended))
        except Exception:  # database away: the next sweep tries again
            log.warning("could not check the sessions of open channels", exc_info=True)
        finally:
            self._sweeping.release()

    def _stale(self, workspace_id: str | None, user_id: str | None) -> None:
        self._tell(workspace_id, user_id, [])

    def _sessions_ended(self, session_ids: list[str]) -> None:
        with self._lock:
            for session_id in session_ids:
                self._ended[session_id] = None
                self._ended.move_to_end(session_id)
            while len(self._ended) > ENDED_MEMORY:
                self._ended.popitem(last=False)
        self._tell(None, None, session_ids)

    def _tell(self, workspace_id: str | None, user_id: str | None,
              session_ids: list[str]) -> None:
        with self._lock:
            watches = list(self._watches)
        for watch in watches:
            watch.hear(workspace_id, user_id, session_ids)
