"""Budgets that hold (API.md "Budgets that hold"): a workspace's `settings.monthly_budget_usd`,
an API key's `monthly_budget_usd` and a member's (their membership's, else the workspace's
`settings.member_monthly_budget_usd`), per calendar month (UTC).

Before every model call, on every path, its worst-case cost is *held* atomically against every
budget that applies (one conditional update per budgeted counter: see repositories/spend.py); if
any would be passed, the holds already taken are dropped and the call is refused with 402 before
the provider is called. After the call the reservation is *settled* with the actual cost (the
partial cost of a call cut short included). A hold whose process died is released by any
worker once it expires. So with N concurrent calls on any number of workers, spend passes a
budget by at most what the estimates of the calls in flight left over, never by a whole call.

Budget amounts are cached per process for a few seconds; a change is announced to every process
(use_cases/shared/stale_caches.py), so it applies to the next call everywhere.
"""
from __future__ import annotations

import builtins
import logging
import os
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from entities.actor import Actor
from entities.budget import (
    Counter,
    Hold,
    Reservation,
    SpendScope,
    SpendTotals,
    member_ref,
    month_of,
)
from entities.clock import utcnow
from entities.errors import BudgetExceeded
from entities.workspace import WorkspaceRole
from use_cases.gateway.budget_alerts import BudgetAlerts
from use_cases.gateway.group_commit import GroupCommit
from use_cases.gateway.ports import (
    ApiKeyRepository,
    HoldRequest,
    Settlement,
    SpendRepository,
)
from use_cases.shared.ttl_cache import TtlCache
from use_cases.workspaces.access import WorkspaceAccess
from use_cases.workspaces.ports import MembershipRepository, WorkspaceRepository

log = logging.getLogger(__name__)

SCOPE_NAMES = {SpendScope.WORKSPACE: "workspace", SpendScope.API_KEY: "API key",
               SpendScope.MEMBER: "member"}


@dataclass(frozen=True)
class BudgetPolicy:
    hold_ttl_s: float = 600.0  # a call not settled by then is taken for dead and its hold released
    cache_ttl_s: float = 5.0  # budget amounts, between announcements
    # a call ending this close to its hold's expiry may find the hold released by the time its
    # settlement is written (the batch waits; another worker's clock may be ahead): it is then
    # settled as one whose hold may be gone, so its cost is never lost
    settle_margin_s: float = 60.0


@dataclass(frozen=True)
class BudgetStatus:
    scope: SpendScope
    id: str  # the workspace, API key or member (user) id
    budget_usd: float | None
    spent_usd: float
    reserved_usd: float
    month: str


class Budgets:
    def __init__(self, workspaces: WorkspaceRepository, memberships: MembershipRepository,
                 keys: ApiKeyRepository, spend: SpendRepository, access: WorkspaceAccess,
                 alerts: BudgetAlerts, policy: BudgetPolicy = BudgetPolicy(),
                 clock: Callable[[], datetime] = utcnow):
        self.workspaces = workspaces
        self.memberships = memberships
        self.keys = keys
        self.spend = spend
        self.access = access
        self.alerts = alerts
        self.policy = policy
        self.clock = clock
        self._budgets = TtlCache(policy.cache_ttl_s)  # (scope, ref_id) -> USD or None
        # concurrent calls' settlements share round trips (the write, then one read of the
        # batch's held counters for the alerts); each call waits for its own
        self._settlements: GroupCommit[Settlement, dict[Counter, SpendTotals]] = GroupCommit(
            self._settle_batch, "spend-commit")
        # concurrent calls' holds on one budget share one conditional update (one writer per
        # process: otherwise every call updates the same counter document and they conflict)
        self._holds: GroupCommit[HoldRequest, dict[tuple[str, Counter], bool]] = GroupCommit(
            self._hold_batch, "spend-holds")

    # --- every model call -------------------------------------------------------------------

    def reserve(self, workspace_id: str | None, api_key_id: str | None, user_id: str | None,
                worst_case_usd: float) -> Reservation:
        """Holds `worst_case_usd` against every budget of this call; BudgetExceeded (402), holding
        nothing, when one of them would be passed or is spent already."""
        if not workspace_id:
            return Reservation(uuid.uuid4().hex, ())
        now = self.clock()
        counters = self._counters(workspace_id, api_key_id, user_id, month_of(now))
        reservation_id = uuid.uuid4().hex
        expires_at = now + timedelta(seconds=self.policy.hold_ttl_s)
        budgeted = [(counter, budget) for counter in counters  # all read before any hold
                    if (budget := self._budget(counter, workspace_id)) is not None]
        pending = [(counter, budget, self._holds.enqueue(
                        (counter, reservation_id, worst_case_usd, budget, expires_at)))
                   for counter, budget in budgeted]
        holds: list[Hold] = []
        refused: tuple[Counter, float] | None = None
        try:
            for counter, budget, batch in pending:
                if (batch.wait() or {}).get((reservation_id, counter)):
                    holds.append(Hold(counter, worst_case_usd, budget))
                elif refused is None:
                    refused = (counter, budget)
        except Exception:  # a write failed (or timed out): drop whatever was granted
            self._release(reservation_id, [counter for counter, _b, _batch in pending],
                          worst_case_usd)
            raise
        if refused is not None:
            self._release(reservation_id, [hold.counter for hold in holds], worst_case_usd)
            raise self._exceeded(*refused)
        return Reservation(reservation_id, tuple(counters), tuple(holds), expires_at)

    def settle(self, reservation: Reservation, cost_usd: float, workspace_id: str | None) -> None:
        """Adds the call's actual cost to its counters and drops its holds; alerts the
        workspace's admins for each alert threshold a budget just reached."""
        self.begin_settle(reservation, cost_usd, workspace_id)()

    def begin_settle(self, reservation: Reservation, cost_usd: float,
                     workspace_id: str | None) -> Callable[[], None]:
        """settle() in two steps: the settlement joins the next shared write now; the function
        returned waits for that write and sends the alerts (so a caller can make another write
        meanwhile)."""
        if not reservation.counters:
            return lambda: None
        held = {hold.counter: hold.amount for hold in reservation.holds}
        margin = timedelta(seconds=min(self.policy.settle_margin_s, self.policy.hold_ttl_s / 2))
        swept = (reservation.expires_at is not None
                 and self.clock() >= reservation.expires_at - margin)
        batch = self._settlements.enqueue((reservation.id, [(c, held.get(c, 0.0))
                                                            for c in reservation.counters],
                                           cost_usd, swept))

        def finish() -> None:
            totals = batch.wait()
            if workspace_id and totals and reservation.holds and cost_usd > 0:
                for hold in reservation.holds:
                    try:
                        self.alerts.check(workspace_id, hold, totals[hold.counter])
                    except Exception:  # the call is paid for; an alert lost is logged, not raised
                        log.exception("could not send a budget alert")
        return finish

    def _release(self, reservation_id: str, counters: builtins.list[Counter],
                 amount: float) -> None:
        """Drops this reservation's holds (one that is not there changes nothing); a hold that
        cannot be dropped now is left to expire and be swept."""
        for counter in counters:
            try:
                self.spend.release(counter, reservation_id, amount)
            except Exception:
                log.warning("could not release a budget hold", exc_info=True)

    def _hold_batch(self, requests: builtins.list[HoldRequest]) -> dict[tuple[str, Counter], bool]:
        """Takes a batch of holds; whether each (hold id, counter) was granted."""
        granted = self.spend.hold_many(requests)
        return {(hold_id, counter): ok
                for (counter, hold_id, _amount, _budget, _expires), ok in zip(requests, granted,
                                                                            strict=True)}

    def _settle_batch(self, settlements: builtins.list[Settlement]) -> dict[Counter, SpendTotals]:
        """Writes a batch of settlements; the totals of its counters, read once after."""
        self.spend.settle_many(settlements)
        return self.spend.totals(builtins.list({counter for _id, counters, _cost, _swept
                                                in settlements for counter, _held in counters}))

    def release_expired(self) -> int:
        """Drops holds of calls whose process died (any worker may run this); how many."""
        released = 0
        for counter, hold_id, amount in self.spend.expired_holds(self.clock()):
            released += self.spend.release(counter, hold_id, amount)
        if released:
            log.warning("released %d budget holds of calls that never settled", released)
        return released

    # --- GET /api/v1/budgets ----------------------------------------------------------------

    def list(self, actor: Actor, workspace_id: str) -> builtins.list[BudgetStatus]:
        """This month's budgets of a workspace (admins): the workspace's, each API key's and
        each member's that has one."""
        self.access.require(actor.user_id, workspace_id, WorkspaceRole.ADMIN)
        month = month_of(self.clock())
        budgeted: builtins.list[tuple[Counter, str, float | None]] = []
        workspace = Counter(SpendScope.WORKSPACE, workspace_id, month)
        budgeted.append((workspace, workspace_id, self._budget(workspace, workspace_id)))
        for key in self.keys.list(workspace_id):
            if key.monthly_budget_usd is not None:
                budgeted.append((Counter(SpendScope.API_KEY, key.id, month), key.id,
                                 key.monthly_budget_usd))
        for membership in self.memberships.list(workspace_id):
            counter = Counter(SpendScope.MEMBER, member_ref(workspace_id, membership.user_id), month)
            budget = self._budget(counter, workspace_id)
            if budget is not None:
                budgeted.append((counter, membership.user_id, budget))
        totals = self.spend.totals([counter for counter, _id, _budget in budgeted])
        return [BudgetStatus(counter.scope, ref, budget, round(totals[counter].spent_usd, 6),
                             round(totals[counter].reserved_usd, 6), month)
                for counter, ref, budget in budgeted]

    def forget(self, workspace_id: str | None, _user_id: str | None = None) -> None:
        """Drops the cached budgets of this workspace, its keys and members (StaleCaches)."""
        if workspace_id:
            self._budgets.discard_where(lambda key, _budget: _in_workspace(key, workspace_id))

    # --- helpers ----------------------------------------------------------------------------

    @staticmethod
    def _counters(workspace_id: str, api_key_id: str | None, user_id: str | None,
                  month: str) -> builtins.list[Counter]:
        counters = [Counter(SpendScope.WORKSPACE, workspace_id, month)]
        if api_key_id:
            counters.append(Counter(SpendScope.API_KEY, api_key_id, month))
        if user_id:
            counters.append(Counter(SpendScope.MEMBER, member_ref(workspace_id, user_id), month))
        return counters

    def _budget(self, counter: Counter, workspace_id: str) -> float | None:
        return self._budgets.get_or_load(
            (counter.scope, counter.ref_id, workspace_id),
            lambda: self._load_budget(counter.scope, counter.ref_id, workspace_id))

    def _load_budget(self, scope: SpendScope, ref_id: str, workspace_id: str) -> float | None:
        if scope is SpendScope.API_KEY:
            key = self.keys.get(ref_id)
            return key.monthly_budget_usd if key else None
        workspace = self.workspaces.get(workspace_id)
        if workspace is None:
            return None
        if scope is SpendScope.WORKSPACE:
            return workspace.settings.monthly_budget_usd
        membership = self.memberships.get(workspace_id, ref_id.split(":", 1)[1])
        own = membership.monthly_budget_usd if membership else None
        return own if own is not None else workspace.settings.member_monthly_budget_usd

    def _exceeded(self, counter: Counter, budget: float) -> BudgetExceeded:
        totals = self.spend.totals([counter])[counter]
        return BudgetExceeded(
            f"The {SCOPE_NAMES[counter.scope]}'s monthly budget of ${budget:g} is spent",
            details={"scope": counter.scope.value, "budget_usd": budget,
                     "spent_usd": round(totals.spent_usd, 6),
                     "reserved_usd": round(totals.reserved_usd, 6), "month": counter.month})


class HoldSweeper:
    """Releases, every `interval_s` in each process, the holds of calls whose process died
    (started on the first request after gunicorn forked; `close()` stops it)."""

    def __init__(self, budgets: Budgets, interval_s: float = 30.0):
        self.budgets = budgets
        self.interval_s = interval_s
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._pid: int | None = None
        self._lock = threading.Lock()

    def ensure_started(self) -> None:
        with self._lock:
            if self._stop.is_set() or (self._pid == os.getpid() and self._thread is not None
                                       and self._thread.is_alive()):
                return
            self._pid = os.getpid()
            self._thread = threading.Thread(target=self._run, name="budget-holds", daemon=True)
            self._thread.start()

    def close(self) -> None:
        self._stop.set()

    def _run(self) -> None:
        while not self._stop.wait(self.interval_s):
            try:
                self.budgets.release_expired()
            except Exception:  # the database is away: the next round tries again
                log.warning("could not release expired budget holds", exc_info=True)


def _in_workspace(key: object, workspace_id: str) -> bool:
    return isinstance(key, tuple) and len(key) == 3 and key[2] == workspace_id
