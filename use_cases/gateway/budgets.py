"""Monthly budgets: a workspace's `settings.monthly_budget_usd` and an API key's
`monthly_budget_usd`, checked before every model call on every path.

Spend comes from recorded usage, through counters (one document per scope, id and month)
moved by `SpendCounting` whenever the usage recorder writes a batch. `BudgetGuard.check` reads
budgets and counters through a short per-process cache, so a check costs no database round trip
most of the time; usage flushed by this process updates its cached spend at once, other
processes see it within the TTL. A budget can therefore be overshot by the calls in flight and
those made within one flush interval plus the TTL: budgets are a brake, not an exact meter.
"""
from __future__ import annotations

import logging
import threading
from collections import defaultdict
from collections.abc import Callable
from datetime import datetime
from functools import partial
from operator import add

from entities.budget import SpendIncrement, SpendScope, month_of
from entities.clock import utcnow
from entities.errors import BudgetExceeded
from entities.llm import UsageRecord
from use_cases.gateway.ports import ApiKeyRepository, SpendRepository, UsageRepository
from use_cases.gateway.ttl_cache import TtlCache
from use_cases.workspaces.ports import WorkspaceRepository

log = logging.getLogger(__name__)

SCOPE_NAMES = {SpendScope.WORKSPACE: "workspace", SpendScope.API_KEY: "API key"}


class BudgetGuard:
    """`check(workspace_id, api_key_id)` (also callable as `guard(...)`): BudgetExceeded when
    either budget is spent this calendar month (UTC)."""

    def __init__(self, workspaces: WorkspaceRepository, keys: ApiKeyRepository,
                 spend: SpendRepository, cache_ttl_s: float = 5.0,
                 clock: Callable[[], datetime] = utcnow):
        self.workspaces = workspaces
        self.keys = keys
        self.spend = spend
        self.clock = clock
        self._budgets = TtlCache(cache_ttl_s)  # (scope, id) -> budget in USD or None
        self._spent = TtlCache(cache_ttl_s)  # (scope, id, month) -> USD spent

    def __call__(self, workspace_id: str, api_key_id: str | None = None) -> None:
        self.check(workspace_id, api_key_id)

    def check(self, workspace_id: str, api_key_id: str | None = None) -> None:
        month = month_of(self.clock())
        for scope, ref_id in ((SpendScope.WORKSPACE, workspace_id), (SpendScope.API_KEY, api_key_id)):
            if not ref_id:
                continue
            budget = self._budgets.get_or_load((scope, ref_id), partial(self._budget, scope, ref_id))
            if budget is None:
                continue
            spent = self._spent.get_or_load(
                (scope, ref_id, month), partial(self.spend.spent, scope, ref_id, month))
            if spent >= budget:
                raise BudgetExceeded(
                    f"The {SCOPE_NAMES[scope]}'s monthly budget of ${budget:g} is spent",
                    details={"scope": scope.value, "budget_usd": budget,
                             "spent_usd": round(spent, 6), "month": month})

    def forget(self, workspace_id: str | None, _user_id: str | None = None) -> None:
        """Drops cached budgets of this workspace and of API keys (StaleCaches: a budget
        changed, a key revoked)."""
        if workspace_id:
            self._budgets.discard_where(lambda key, _budget: key == (SpendScope.WORKSPACE, workspace_id)
                                        or (isinstance(key, tuple) and key[0] is SpendScope.API_KEY))

    def counted(self, increments: list[SpendIncrement]) -> None:
        """Spend this process just wrote: its cached totals move at once."""
        for inc in increments:
            self._spent.update((inc.scope, inc.ref_id, inc.month), partial(add, inc.cost_usd))

    def _budget(self, scope: SpendScope, ref_id: str) -> float | None:
        if scope is SpendScope.WORKSPACE:
            workspace = self.workspaces.get(ref_id)
            return workspace.settings.monthly_budget_usd if workspace else None
        key = self.keys.get(ref_id)
        return key.monthly_budget_usd if key else None


def spend_increments(records: list[UsageRecord]) -> list[SpendIncrement]:
    """The records' costs summed per workspace and API key and month."""
    totals: dict[tuple[SpendScope, str, str], list] = defaultdict(lambda: [0.0, 0])
    for record in records:
        if not record.cost_usd or record.created_at is None:
            continue
        month = month_of(record.created_at)
        for scope, ref_id in ((SpendScope.WORKSPACE, record.workspace_id),
                              (SpendScope.API_KEY, record.api_key_id)):
            if ref_id:
                total = totals[(scope, ref_id, month)]
                total[0] += record.cost_usd
                total[1] += 1
    return [SpendIncrement(scope, ref_id, month, cost, requests)
            for (scope, ref_id, month), (cost, requests) in totals.items()]


class SpendCounting(UsageRepository):
    """The usage repository, plus the spend counters of what each batch newly stored.

    A batch the recorder retries is not counted twice (the usage repository reports only the
    records it stored). Counters that could not be written are owed and added with the next
    batch, so a database hiccup between the two writes loses nothing while the process lives."""

    def __init__(self, usage: UsageRepository, spend: SpendRepository,
                 on_counted: Callable[[list[SpendIncrement]], None] | None = None):
        self.usage = usage
        self.spend = spend
        self.on_counted = on_counted
        self._owed: list[SpendIncrement] = []
        self._lock = threading.Lock()

    def add_many(self, records: list[UsageRecord]) -> list[UsageRecord]:
        stored = self.usage.add_many(records)
        stored = list(records) if stored is None else stored
        new = spend_increments(stored)
        if new and self.on_counted is not None:
            self.on_counted(new)  # before the write: a cache refilled meanwhile cannot count it twice
        with self._lock:
            increments, self._owed = self._owed + new, []
        if not increments:
            return stored
        try:
            self.spend.add(increments)
        except Exception:
            with self._lock:
                self._owed = increments + self._owed
            log.exception("could not update %d spend counters; will add them with the next batch",
                          len(increments))
        return stored
