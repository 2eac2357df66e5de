"""API keys, spend counters, usage de-duplication and analytics against the real wire server."""
from __future__ import annotations

import threading
import uuid
from datetime import UTC, datetime, timedelta

import pytest

from entities.api_key import ApiKey
from entities.budget import Counter, SpendScope, SpendTotals
from entities.clock import utcnow
from entities.llm import UsageRecord
from entities.usage_report import UsageQuery
from entities.workspace import WorkspaceSettings
from repositories.api_keys import MongoApiKeyRepository
from repositories.mongo import connect
from repositories.spend import MongoSpendRepository
from repositories.usage import MongoUsageRepository
from repositories.usage_stats import MongoUsageStatistics
from tests.fakes.gateway import api_key_repository
from tests.fakes.identity import Identity
from tests.fakes.shared import FakeClock
from use_cases.gateway.budget_alerts import BudgetAlerts
from use_cases.gateway.budgets import BudgetPolicy, Budgets


@pytest.fixture
def db(mongo_uri):
    client = connect(mongo_uri)
    name = f"test_gateway_{uuid.uuid4().hex[:10]}"
    yield client[name]
    client.drop_database(name)
    client.close()


def stored(repo_cls, db):
    repo = repo_cls(db)
    repo.ensure_indexes()
    return repo


def new_key(workspace="ws1", key_hash=None) -> ApiKey:
    return ApiKey(id="", workspace_id=workspace, name="k", key_hash=key_hash or uuid.uuid4().hex,
                  key_hint="sk-syn-...abcd", created_by="u1", created_at=utcnow())


def test_a_key_is_found_by_hash_touched_and_revoked_once(db):
    keys = stored(MongoApiKeyRepository, db)
    key = keys.add(new_key(key_hash="h1"))
    assert keys.find_by_hash("h1").id == key.id and keys.find_by_hash("h1").last_used_at is None
    touched_at = utcnow()
    assert keys.find_by_hash("h1", touch_at=touched_at).last_used_at == touched_at
    assert keys.revoke("other-workspace", key.id, utcnow()) is None
    assert keys.revoke("ws1", key.id, utcnow()).revoked_at is not None
    assert keys.revoke("ws1", key.id, utcnow()) is None
    revoked = keys.find_by_hash("h1", touch_at=utcnow() + timedelta(seconds=5))
    assert revoked.revoked_at is not None and revoked.last_used_at == touched_at
    assert keys.list("ws1") == [] and keys.get(key.id).id == key.id


def test_a_secret_hash_is_unique(db):
    keys = stored(MongoApiKeyRepository, db)
    keys.add(new_key(key_hash="same"))
    with pytest.raises(Exception, match="duplicate"):
        keys.add(new_key(key_hash="same"))


def test_spend_counters_add_up_concurrent_settlements(db):
    spend = stored(MongoSpendRepository, db)
    counter = Counter(SpendScope.WORKSPACE, "ws1", "2026-03")

    def add_many():
        for n in range(10):
            spend.settle(f"c{n}", [(counter, 0.0)], 0.25)

    threads = [threading.Thread(target=add_many) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    april = Counter(SpendScope.WORKSPACE, "ws1", "2026-04")
    key = Counter(SpendScope.API_KEY, "ws1", "2026-03")
    assert spend.totals([counter, april, key]) == {counter: SpendTotals(pytest.approx(10.0), 0.0),
                                                   april: SpendTotals(0.0, 0.0),
                                                   key: SpendTotals(0.0, 0.0)}


def test_a_retried_usage_batch_reports_only_the_records_it_newly_stored(db):
    usage = stored(MongoUsageRepository, db)
    at = datetime(2026, 3, 1, tzinfo=UTC)
    first = [UsageRecord("ws", "u", "m", "p", "success", "openai", latency_ms=i, created_at=at)
             for i in range(3)]
    assert usage.add_many(first) == first
    later = UsageRecord("ws", "u", "m", "p", "success", "openai", latency_ms=9, created_at=at)
    assert usage.add_many([*first, later]) == [later]
    assert db.usage.count_documents({}) == 4


def test_the_usage_report_groups_in_one_aggregation_within_the_range(db):
    usage = stored(MongoUsageRepository, db)
    day = datetime(2026, 3, 1, 12, tzinfo=UTC)
    usage.add_many([
        UsageRecord("ws", "u1", "a", "p", "success", "openai", 10, 5, 0.1, 100, created_at=day),
        UsageRecord("ws", "u2", "b", "p", "error", "talk", 0, 0, 0.0, 20,
                    created_at=day + timedelta(days=1)),
        UsageRecord("other", "u3", "a", "p", "success", "openai", 1, 1, 0.5, 10, created_at=day),
        UsageRecord("ws", "u1", "a", "p", "success", "openai", 1, 1, 9.0, 10,
                    created_at=day + timedelta(days=40)),
    ])
    stats = MongoUsageStatistics(db)
    march = UsageQuery("ws", day - timedelta(hours=12), day + timedelta(days=30), "model")
    report = stats.report(march)
    assert [(g.key, g.requests, g.errors) for g in report.items] == [("a", 1, 0), ("b", 1, 1)]
    assert (report.totals.requests, report.totals.avg_latency_ms) == (2, 60.0)
    everyone = stats.report(UsageQuery(None, march.since, march.until, "user"))
    assert {g.key for g in everyone.items} == {"u1", "u2", "u3"}
    empty = stats.report(UsageQuery("nobody", march.since, march.until, "day"))
    assert (empty.items, empty.totals.requests) == ([], 0)


# --- budget holds ---------------------------------------------------------------------------

COUNTER = Counter(SpendScope.WORKSPACE, "ws-holds", "2026-03")
LATER = datetime(2030, 1, 1, tzinfo=UTC)


def test_concurrent_holds_never_commit_more_than_the_budget(db):
    spend = stored(MongoSpendRepository, db)
    granted = []

    def hold(index):
        if spend.hold(COUNTER, f"h{index}", 0.3, 1.0, LATER):
            granted.append(index)

    threads = [threading.Thread(target=hold, args=(i,)) for i in range(12)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert len(granted) == 3
    assert spend.totals([COUNTER])[COUNTER] == SpendTotals(0.0, pytest.approx(0.9))


def test_holds_taken_together_are_granted_as_one_by_one_in_order(db):
    spend = stored(MongoSpendRepository, db)
    other = Counter(SpendScope.API_KEY, "k1", COUNTER.month)

    together = spend.hold_many([(COUNTER, "a", 0.2, 1.0, LATER), (COUNTER, "b", 0.3, 1.0, LATER),
                                (other, "a", 0.2, 0.5, LATER)])
    one_by_one = spend.hold_many([(COUNTER, "c", 0.4, 1.0, LATER), (COUNTER, "d", 0.2, 1.0, LATER),
                                  (COUNTER, "e", 0.1, 1.0, LATER)])

    assert together == [True, True, True]
    assert one_by_one == [True, False, True]  # 0.2 would pass the budget; 0.1 still fits
    totals = spend.totals([COUNTER, other])
    assert totals[COUNTER] == SpendTotals(0.0, pytest.approx(1.0))
    assert totals[other] == SpendTotals(0.0, pytest.approx(0.2))
    assert {hold_id for _counter, hold_id, _amount in spend.expired_holds(
        LATER + timedelta(seconds=1))} == {"a", "b", "c", "e"}
    assert spend.hold_many([(COUNTER, "f", 0.0, 1.0, LATER)]) == [False]  # even 0 is refused


def test_concurrent_batches_of_holds_never_commit_more_than_the_budget(db):
    spend = stored(MongoSpendRepository, db)
    granted = []

    def hold_batch(batch):
        requests = [(COUNTER, f"h{batch}-{i}", 0.0625, 1.0, LATER) for i in range(5)]
        granted.extend(hold_id for (_c, hold_id, *_rest), ok
                       in zip(requests, spend.hold_many(requests), strict=True) if ok)

    threads = [threading.Thread(target=hold_batch, args=(b,)) for b in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert len(granted) == 16  # 1/16 is exact in binary: no rounding decides the last one
    assert spend.totals([COUNTER])[COUNTER] == SpendTotals(0.0, 1.0)


def test_a_batch_of_settlements_is_exact_even_written_twice_or_after_one_of_them(db):
    spend = stored(MongoSpendRepository, db)
    assert spend.hold_many([(COUNTER, hold, 0.25, 1.0, LATER) for hold in "abc"]) == [True] * 3
    batch = [(hold, [(COUNTER, 0.25)], cost, False) for hold, cost in
             (("a", 0.125), ("b", 0.0625), ("c", 0.25))]

    spend.settle_many(batch[:1])
    spend.settle_many(batch + batch[1:2])  # "a" settled already; "b" twice in the batch
    spend.settle_many(batch)

    assert spend.totals([COUNTER])[COUNTER] == SpendTotals(0.4375, 0.0)
    assert spend.hold(COUNTER, "d", 0.5625, 1.0, LATER)  # the room is back, to the cent
    assert not spend.hold(COUNTER, "e", 0.0625, 1.0, LATER)


def test_settling_is_exact_and_a_second_settlement_of_the_hold_changes_nothing_held(db):
    spend = stored(MongoSpendRepository, db)
    assert spend.hold(COUNTER, "h1", 0.8, 1.0, LATER)

    spend.settle("h1", [(COUNTER, 0.8)], 0.1)
    assert spend.totals([COUNTER])[COUNTER] == SpendTotals(pytest.approx(0.1), 0.0)
    assert not spend.release(COUNTER, "h1", 0.8)  # already gone
    assert spend.hold(COUNTER, "h2", 0.9, 1.0, LATER)  # the room is back
    assert not spend.hold(COUNTER, "h3", 0.01, 1.0, LATER)


def test_expired_holds_are_found_and_released(db):
    spend = stored(MongoSpendRepository, db)
    soon = datetime(2026, 3, 15, 12, tzinfo=UTC)
    assert spend.hold(COUNTER, "dead", 0.5, 1.0, soon)
    assert spend.hold(COUNTER, "alive", 0.2, 1.0, LATER)

    expired = spend.expired_holds(soon + timedelta(seconds=1))

    assert expired == [(COUNTER, "dead", 0.5)]
    assert spend.release(COUNTER, "dead", 0.5)
    assert spend.totals([COUNTER])[COUNTER].reserved_usd == pytest.approx(0.2)


def test_counters_written_before_holds_existed_keep_their_spend(db):
    spend = stored(MongoSpendRepository, db)
    db.spend.insert_one({"_id": "workspace:ws-holds:2026-03", "scope": "workspace",
                         "ref_id": "ws-holds", "month": "2026-03", "cost_usd": 0.7, "requests": 3})

    assert not spend.hold(COUNTER, "h1", 0.4, 1.0, LATER)
    assert spend.hold(COUNTER, "h2", 0.3, 1.0, LATER)


def test_each_alert_threshold_is_marked_once(db):
    spend = stored(MongoSpendRepository, db)
    spend.settle("h", [(COUNTER, 0.0)], 0.6)

    assert spend.mark_alerted(COUNTER, 0.5)
    assert not spend.mark_alerted(COUNTER, 0.5)
    assert spend.mark_alerted(COUNTER, 0.8)


def test_a_late_settlement_keeps_its_cost_when_the_sweeper_releases_its_hold_meanwhile(db):
    """The sweeper releases a late call's hold between the settlement's look-up of its holds and
    its write: the cost must still be added (never lost), once."""
    spend = stored(MongoSpendRepository, db)
    soon = datetime(2026, 3, 15, 12, tzinfo=UTC)
    assert spend.hold(COUNTER, "late", 0.5, 1.0, soon)
    assert spend.hold(COUNTER, "other", 0.25, 1.0, LATER)
    collection = spend.collection

    def then_sweep(name):  # the sweeper runs right after the settlement's first command
        def command(*args, **kwargs):
            result = getattr(collection, name)(*args, **kwargs)
            if name == "find":
                result = list(result)  # the look-up done, not a lazy cursor
            if not swept:
                swept.append(True)
                collection.update_one(  # the sweeper's release, as release() writes it
                    {"_id": "workspace:ws-holds:2026-03", "holds.id": "late"},
                    {"$inc": {"reserved_usd": -0.5, "committed_usd": -0.5},
                     "$pull": {"holds": {"id": "late"}}})
            return result
        return command

    swept: list[bool] = []
    spend.collection = _Patched(collection, **{name: then_sweep(name) for name in
                                               ("find", "update_one", "bulk_write")})
    spend.settle_many([("late", [(COUNTER, 0.5)], 0.125, True),
                       ("other", [(COUNTER, 0.25)], 0.0625, False)])
    spend.collection = collection

    assert swept  # whichever won, the cost is there once

    assert spend.totals([COUNTER])[COUNTER] == SpendTotals(0.1875, 0.0)
    assert db.spend.find_one({"_id": "workspace:ws-holds:2026-03"})["requests"] == 2


class _Patched:
    """A collection with some methods replaced (pymongo's Collection takes no new attributes)."""

    def __init__(self, collection, **methods):
        self._collection = collection
        self._methods = methods

    def __getattr__(self, name):
        return self._methods.get(name) or getattr(self._collection, name)


def test_a_call_ending_just_before_its_hold_expires_keeps_its_cost_if_the_sweeper_wins(db):
    """The call ends 0.1 s before its hold expires; its settlement is written after that (its
    batch waited, or another worker's clock is ahead) and a sweeper released the hold first:
    the cost is still counted, once."""
    identity = Identity()
    owner = identity.actor("owner@example.com")
    workspace = identity.personal_workspace(owner)
    identity.workspace_repo.update(workspace,
                                   settings=WorkspaceSettings(monthly_budget_usd=1.0))
    spend = stored(MongoSpendRepository, db)
    clock = FakeClock(datetime(2026, 3, 15, 12, tzinfo=UTC))
    alerts = BudgetAlerts(spend, identity.workspace_repo, identity.memberships, identity.users,
                          identity.mailer, identity.events)
    budgets = Budgets(identity.workspace_repo, identity.memberships, api_key_repository(), spend,
                      identity.access, alerts, BudgetPolicy(hold_ttl_s=600, cache_ttl_s=0),
                      clock=clock.wall)
    counter = Counter(SpendScope.WORKSPACE, workspace, "2026-03")
    reservation = budgets.reserve(workspace, None, None, 0.5)
    clock.advance(599.9)
    settle_many = spend.settle_many

    def swept_first(settlements):
        clock.advance(1)
        assert budgets.release_expired() == 1
        settle_many(settlements)

    spend.settle_many = swept_first  # type: ignore[method-assign]
    budgets.settle(reservation, 0.25, workspace)

    assert spend.totals([counter])[counter] == SpendTotals(0.25, 0.0)


def test_a_lone_settlement_written_twice_changes_nothing_and_raises_nothing(db):
    spend = stored(MongoSpendRepository, db)
    other = Counter(SpendScope.API_KEY, "k1", COUNTER.month)
    assert spend.hold_many([(COUNTER, "a", 0.5, 1.0, LATER), (other, "a", 0.5, 1.0, LATER)]) \
        == [True, True]
    settlement = ("a", [(COUNTER, 0.5), (other, 0.5)], 0.125, False)

    spend.settle_many([settlement])
    spend.settle_many([settlement])  # one hold per counter, gone: nothing to fall back to

    assert spend.totals([COUNTER, other]) == {COUNTER: SpendTotals(0.125, 0.0),
                                              other: SpendTotals(0.125, 0.0)}
