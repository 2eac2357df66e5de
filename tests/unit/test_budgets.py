"""BudgetGuard and SpendCounting: cheap checks against monthly spend counters."""
from __future__ import annotations

from datetime import UTC, datetime

import pytest

from entities.budget import SpendScope
from entities.errors import BudgetExceeded
from entities.llm import UsageRecord
from entities.workspace import WorkspaceSettings
from tests.unit.fakes import Identity
from tests.unit.gateway_fakes import Clock, FakeApiKeyRepository, FakeSpendRepository
from use_cases.gateway.api_keys import ApiKeys
from use_cases.gateway.budgets import BudgetGuard, SpendCounting, spend_increments
from use_cases.gateway.ports import UsageRepository

MARCH = datetime(2026, 3, 15, 12, tzinfo=UTC)
APRIL = datetime(2026, 4, 1, 0, 0, 1, tzinfo=UTC)


class DedupingUsage(UsageRepository):
    """Like the Mongo repository: a record stored before is skipped and not reported."""

    def __init__(self):
        self.stored: list[UsageRecord] = []

    def add_many(self, records):
        new = [r for r in records if r not in self.stored]
        self.stored.extend(new)
        return new


def call(cost: float, workspace="ws", key=None, at=MARCH) -> UsageRecord:
    return UsageRecord(workspace_id=workspace, user_id="u", model="m", provider="p",
                       status="success", source="openai", cost_usd=cost, api_key_id=key,
                       created_at=at)


@pytest.fixture
def identity():
    return Identity()


@pytest.fixture
def owner(identity):
    return identity.actor("owner@example.com")


@pytest.fixture
def workspace(identity, owner):
    return identity.personal_workspace(owner)


@pytest.fixture
def spend():
    return FakeSpendRepository()


@pytest.fixture
def key_repo():
    return FakeApiKeyRepository()


@pytest.fixture
def clock():
    return Clock(MARCH)


@pytest.fixture
def guard(identity, key_repo, spend, clock):
    return BudgetGuard(identity.workspace_repo, key_repo, spend, cache_ttl_s=60, clock=clock.wall)


def set_budget(identity, workspace, budget):
    identity.workspace_repo.update(workspace, settings=WorkspaceSettings(monthly_budget_usd=budget))


def test_a_workspace_without_budget_never_reads_its_spend(guard, spend, workspace):
    for _ in range(10):
        guard.check(workspace, None)
    assert spend.reads == 0


def test_a_spent_workspace_budget_refuses_with_the_figures(identity, guard, spend, workspace):
    set_budget(identity, workspace, 1.0)
    SpendCounting(DedupingUsage(), spend).add_many([call(0.6, workspace), call(0.5, workspace)])
    with pytest.raises(BudgetExceeded) as refused:
        guard(workspace, None)
    assert refused.value.details == {"scope": "workspace", "budget_usd": 1.0, "spent_usd": 1.1,
                                     "month": "2026-03"}


def test_spend_is_read_once_per_ttl_and_this_process_own_writes_count_at_once(
        identity, guard, spend, workspace):
    set_budget(identity, workspace, 1.0)
    counting = SpendCounting(DedupingUsage(), spend, guard.counted)
    for _ in range(5):
        guard.check(workspace)
    assert spend.reads == 1
    counting.add_many([call(1.0, workspace)])
    with pytest.raises(BudgetExceeded):
        guard.check(workspace)
    assert spend.reads == 1


def test_a_new_month_starts_from_nothing(identity, guard, spend, workspace, clock):
    set_budget(identity, workspace, 1.0)
    SpendCounting(DedupingUsage(), spend).add_many([call(2.0, workspace)])
    with pytest.raises(BudgetExceeded):
        guard.check(workspace)
    clock.now = APRIL
    guard.check(workspace)


def test_a_key_budget_stops_that_key_not_its_workspace(identity, guard, spend, key_repo, owner,
                                                       workspace):
    keys = ApiKeys(key_repo, identity.workspace_repo, identity.users, identity.access, identity.audit)
    capped, _ = keys.create(owner, workspace, "capped", monthly_budget_usd=0.5)
    free, _ = keys.create(owner, workspace, "free")
    SpendCounting(DedupingUsage(), spend).add_many([call(0.5, workspace, capped.id)])
    with pytest.raises(BudgetExceeded) as refused:
        guard.check(workspace, capped.id)
    assert refused.value.details["scope"] == "api_key"
    guard.check(workspace, free.id)
    guard.check(workspace, None)


def test_a_retried_batch_is_not_counted_twice(spend):
    counting = SpendCounting(DedupingUsage(), spend)
    batch = [call(0.25), call(0.5)]
    counting.add_many(batch)
    counting.add_many([*batch, call(1.0)])
    assert spend.totals[(SpendScope.WORKSPACE, "ws", "2026-03")] == pytest.approx(1.75)


def test_counters_that_could_not_be_written_are_added_with_the_next_batch(spend):
    counting = SpendCounting(DedupingUsage(), spend)
    spend.fail = True
    counting.add_many([call(0.25)])
    spend.fail = False
    counting.add_many([call(0.5)])
    assert spend.totals[(SpendScope.WORKSPACE, "ws", "2026-03")] == pytest.approx(0.75)


def test_increments_are_summed_per_scope_and_month_and_free_calls_skipped():
    increments = spend_increments([call(0.1, key="k"), call(0.2, key="k"), call(0.0, key="k"),
                                   call(0.3, at=APRIL)])
    summary = {(i.scope, i.ref_id, i.month): (round(i.cost_usd, 6), i.requests) for i in increments}
    assert summary == {
        (SpendScope.WORKSPACE, "ws", "2026-03"): (0.3, 2),
        (SpendScope.API_KEY, "k", "2026-03"): (0.3, 2),
        (SpendScope.WORKSPACE, "ws", "2026-04"): (0.3, 1),
    }
