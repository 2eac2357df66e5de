"""Budgets that hold: worst cases reserved atomically before a call, settled with the actual cost
after it, on workspace, API-key and member budgets; stale holds released; alerts once."""
from __future__ import annotations

from datetime import UTC, datetime

import pytest

from entities.budget import Counter, SpendScope, member_ref
from entities.errors import BudgetExceeded, Forbidden, NotFound
from entities.workspace import WorkspaceRole, WorkspaceSettings
from tests.fakes.gateway import FakeSpendRepository, api_key_repository
from tests.fakes.identity import Identity
from tests.fakes.shared import FakeClock
from use_cases.gateway.api_keys import ApiKeys
from use_cases.gateway.budget_alerts import BudgetAlerts
from use_cases.gateway.budgets import BudgetPolicy, Budgets

MARCH = datetime(2026, 3, 15, 12, tzinfo=UTC)


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
    return api_key_repository()


@pytest.fixture
def clock():
    return FakeClock(MARCH)


@pytest.fixture
def budgets(identity, key_repo, spend, clock):
    alerts = BudgetAlerts(spend, identity.workspace_repo, identity.memberships, identity.users,
                          identity.mailer, identity.events)
    return Budgets(identity.workspace_repo, identity.memberships, key_repo, spend, identity.access,
                   alerts, BudgetPolicy(hold_ttl_s=60, cache_ttl_s=0), clock=clock.wall)


def settings(identity, workspace, **values):
    identity.workspace_repo.update(workspace, settings=WorkspaceSettings(**values))


def workspace_counter(workspace) -> Counter:
    return Counter(SpendScope.WORKSPACE, workspace, "2026-03")


def test_concurrent_reservations_never_commit_more_than_the_budget(budgets, identity, workspace,
                                                                     owner, spend):
    settings(identity, workspace, monthly_budget_usd=1.0)

    admitted = []
    for _ in range(5):  # all in flight at once: none settled yet
        try:
            admitted.append(budgets.reserve(workspace, None, owner.user_id, 0.3))
        except BudgetExceeded:
            pass

    assert len(admitted) == 3
    assert spend.totals([workspace_counter(workspace)])[workspace_counter(workspace)].reserved_usd \
        == pytest.approx(0.9)


def test_settling_replaces_the_worst_case_with_the_actual_cost(budgets, identity, workspace,
                                                              owner, spend):
    settings(identity, workspace, monthly_budget_usd=1.0)
    reservation = budgets.reserve(workspace, None, owner.user_id, 0.8)

    budgets.settle(reservation, 0.1, workspace)

    totals = spend.totals([workspace_counter(workspace)])[workspace_counter(workspace)]
    assert (totals.spent_usd, totals.reserved_usd) == (pytest.approx(0.1), 0.0)
    budgets.reserve(workspace, None, owner.user_id, 0.8)  # the room is back


def test_a_refused_reservation_holds_nothing_on_the_other_budgets(budgets, identity, workspace,
                                                                 owner, spend, key_repo):
    settings(identity, workspace, monthly_budget_usd=10.0)
    keys = ApiKeys(key_repo, identity.workspace_repo, identity.users, identity.access,
                   identity.audit)
    key, _secret = keys.create(owner, workspace, "capped", monthly_budget_usd=0.5)

    with pytest.raises(BudgetExceeded) as refused:
        budgets.reserve(workspace, key.id, owner.user_id, 0.6)

    assert refused.value.details["scope"] == "api_key"
    totals = spend.totals([workspace_counter(workspace)])[workspace_counter(workspace)]
    assert totals.reserved_usd == 0.0


def test_a_spent_budget_refuses_even_a_free_call(budgets, identity, workspace, owner):
    settings(identity, workspace, monthly_budget_usd=0.2)
    budgets.settle(budgets.reserve(workspace, None, owner.user_id, 0.2), 0.2, workspace)

    with pytest.raises(BudgetExceeded) as refused:
        budgets.reserve(workspace, None, owner.user_id, 0.0)
    assert refused.value.details["spent_usd"] == pytest.approx(0.2)


def test_a_member_budget_comes_from_the_membership_else_the_workspace_default(
        budgets, identity, workspace, owner):
    settings(identity, workspace, member_monthly_budget_usd=0.5)
    with pytest.raises(BudgetExceeded) as refused:
        budgets.reserve(workspace, None, owner.user_id, 0.6)
    assert refused.value.details["scope"] == "member"

    identity.memberships.set_budget(workspace, owner.user_id, 1.0)
    budgets.reserve(workspace, None, owner.user_id, 0.6)


def test_holds_of_a_dead_process_are_released_after_they_expire(budgets, identity, workspace,
                                                                owner, spend, clock):
    settings(identity, workspace, monthly_budget_usd=1.0)
    budgets.reserve(workspace, None, owner.user_id, 0.9)  # its process dies: never settled

    assert budgets.release_expired() == 0
    clock.advance(61)
    assert budgets.release_expired() == 1
    budgets.reserve(workspace, None, owner.user_id, 0.9)


def test_a_call_that_outlives_its_hold_is_still_billed(budgets, identity, workspace, owner,
                                                      spend, clock):
    settings(identity, workspace, monthly_budget_usd=1.0)
    reservation = budgets.reserve(workspace, None, owner.user_id, 0.5)
    clock.advance(61)
    budgets.release_expired()

    budgets.settle(reservation, 0.3, workspace)

    totals = spend.totals([workspace_counter(workspace)])[workspace_counter(workspace)]
    assert (totals.spent_usd, totals.reserved_usd) == (pytest.approx(0.3), 0.0)


def test_each_threshold_alerts_the_admins_once_a_month(budgets, identity, workspace, owner):
    settings(identity, workspace, monthly_budget_usd=1.0)
    for cost in (0.3, 0.3, 0.3, 0.3):  # 30%, 60%, 90%, 120%
        reservation = budgets.reserve(workspace, None, owner.user_id, 0.0)
        budgets.settle(reservation, cost, workspace)

    alerts = [event for event in identity.events.published
              if event.get("type") == "budget.threshold_reached"
              and event["topic"] == f"user:{owner.user_id}"]
    assert [event["threshold"] for event in alerts] == [0.5, 0.8, 1.0]
    assert len([mail for mail in identity.mailer.sent if "budget" in mail.subject]) == 3
    told_globally = [event for event in identity.events.on("global")
                     if event["type"] == "budget.threshold_reached"]
    assert [(e["workspace_id"], e["threshold"]) for e in told_globally] == \
        [(workspace, 0.5), (workspace, 0.8), (workspace, 1.0)]


def test_the_budget_list_is_for_workspace_admins(budgets, identity, workspace, owner):
    settings(identity, workspace, monthly_budget_usd=2.0, member_monthly_budget_usd=0.5)
    budgets.settle(budgets.reserve(workspace, None, owner.user_id, 0.1), 0.1, workspace)

    listed = {(status.scope, status.id): status for status in budgets.list(owner, workspace)}
    assert listed[(SpendScope.WORKSPACE, workspace)].spent_usd == pytest.approx(0.1)
    assert listed[(SpendScope.MEMBER, owner.user_id)].budget_usd == 0.5
    with pytest.raises(NotFound):
        budgets.list(identity.actor("stranger@example.com"), workspace)


def test_a_viewer_cannot_list_budgets(budgets, identity, workspace, owner):
    viewer = identity.actor("viewer@example.com")
    identity.workspaces.add_member(owner, workspace, "viewer@example.com", WorkspaceRole.VIEWER)
    with pytest.raises(Forbidden):
        budgets.list(viewer, workspace)


def test_member_counters_are_per_workspace(budgets, identity, workspace, owner, spend):
    budgets.settle(budgets.reserve(workspace, None, owner.user_id, 0.0), 0.25, workspace)

    counter = Counter(SpendScope.MEMBER, member_ref(workspace, owner.user_id), "2026-03")
    assert spend.totals([counter])[counter].spent_usd == pytest.approx(0.25)


def test_a_reservation_that_fails_midway_keeps_no_hold(budgets, identity, workspace, owner, spend,
                                                        monkeypatch):
    """The database fails on the member's hold after the workspace's was granted: the call
    fails, and the workspace's budget is not left blocked until the hold expires."""
    settings(identity, workspace, monthly_budget_usd=1.0, member_monthly_budget_usd=1.0)
    hold = spend.hold

    def failing(counter, *args):
        if counter.scope is SpendScope.MEMBER:
            raise ConnectionError("the database went away")
        return hold(counter, *args)

    monkeypatch.setattr(spend, "hold", failing)
    with pytest.raises(ConnectionError):
        budgets.reserve(workspace, None, owner.user_id, 0.8)
    monkeypatch.setattr(spend, "hold", hold)

    counter = workspace_counter(workspace)
    assert spend.totals([counter])[counter].reserved_usd == 0
    budgets.reserve(workspace, None, owner.user_id, 0.8)  # the room is there


def test_a_reservation_whose_budget_cannot_be_read_holds_nothing(budgets, identity, workspace,
                                                                  owner, spend, monkeypatch):
    """The member's budget cannot be read (the database went away) after the workspace's hold
    was asked for: the call fails and no hold is left behind."""
    settings(identity, workspace, monthly_budget_usd=1.0, member_monthly_budget_usd=1.0)

    def unreadable(*_args):
        raise ConnectionError("the database went away")

    monkeypatch.setattr(identity.memberships, "get", unreadable)
    with pytest.raises(ConnectionError):
        budgets.reserve(workspace, None, owner.user_id, 0.8)

    budgets.reserve(workspace, None, None, 1.0)  # written after any hold asked for before: fits
