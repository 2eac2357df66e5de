"""API keys and usage records: the same results on mongomock (as unit tests run them) and on the
wire server. Spend counters: FakeSpendRepository (mongomock cannot run MongoSpendRepository: its
bulk_write does not take pymongo 4.9+'s UpdateOne) against MongoSpendRepository on the wire."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from pymongo.errors import DuplicateKeyError

from entities.api_key import ApiKey
from entities.budget import Counter, SpendScope, SpendTotals
from entities.clock import utcnow
from entities.llm import UsageRecord
from entities.responses import StoredResponse
from repositories.api_keys import MongoApiKeyRepository
from repositories.responses import MongoResponseRepository
from repositories.spend import MongoSpendRepository
from repositories.usage import MongoUsageRepository
from tests.contract.conftest import repository
from tests.fakes.gateway import FakeSpendRepository, MongomockApiKeyRepository, MongomockUsageRepository

# --- API keys -----------------------------------------------------------------------------------


@pytest.fixture
def keys(backend, db):
    return repository(backend, db, MongomockApiKeyRepository, MongoApiKeyRepository)


def new_key(key_hash: str, workspace: str = "ws1", age_s: int = 0) -> ApiKey:
    return ApiKey(id="", workspace_id=workspace, name=key_hash, key_hash=key_hash,
                  key_hint="sk-syn-...abcd", created_by="u1",
                  created_at=utcnow() - timedelta(seconds=age_s))


def test_a_key_is_found_by_its_hash_and_touched_only_while_live(keys):
    key = keys.add(new_key("h1"))
    assert key.id and keys.get(key.id).key_hash == "h1" and keys.get("junk") is None
    assert keys.find_by_hash("h1").last_used_at is None and keys.find_by_hash("nope") is None
    touched_at = datetime(2026, 3, 15, 12, 0, 5, 100000, tzinfo=UTC)
    assert keys.find_by_hash("h1", touch_at=touched_at).last_used_at == touched_at
    assert keys.revoke("ws1", key.id, utcnow()).revoked_at is not None
    revoked = keys.find_by_hash("h1", touch_at=touched_at + timedelta(seconds=60))
    assert revoked.revoked_at is not None and revoked.last_used_at == touched_at


def test_a_key_is_revoked_once_and_only_by_its_workspace(keys):
    key = keys.add(new_key("h1"))
    assert keys.revoke("ws2", key.id, utcnow()) is None
    assert keys.revoke("ws1", key.id, utcnow()) is not None
    assert keys.revoke("ws1", key.id, utcnow()) is None
    assert keys.revoke("ws1", "junk", utcnow()) is None


def test_live_keys_are_listed_newest_first(keys):
    old = keys.add(new_key("h1", age_s=60))
    new = keys.add(new_key("h2"))
    gone = keys.add(new_key("h3", age_s=30))
    keys.add(new_key("h4", workspace="ws2"))
    keys.revoke("ws1", gone.id, utcnow())
    assert [k.id for k in keys.list("ws1")] == [new.id, old.id]


def test_a_secret_hash_is_unique(keys):
    keys.add(new_key("same"))
    with pytest.raises(DuplicateKeyError):
        keys.add(new_key("same"))


# --- usage records ------------------------------------------------------------------------------


@pytest.fixture
def usage(backend, db):
    return repository(backend, db, MongomockUsageRepository, MongoUsageRepository)


def record(tokens: int) -> UsageRecord:
    return UsageRecord("ws", "u", "m", "p", "success", "talk", prompt_tokens=tokens,
                       cost_usd=0.01, created_at=datetime(2026, 3, 15, 12, tzinfo=UTC))


def test_a_retried_batch_stores_and_reports_only_the_records_not_yet_stored(usage, db):
    first, second, third = record(1), record(2), record(3)
    assert usage.add_many([first, second]) == [first, second]
    assert usage.add_many([first, third, second]) == [third]
    assert usage.add_many([]) == []
    docs = list(db["usage"].find({}, {"prompt_tokens": 1, "total_tokens": 1}))
    assert sorted((d["prompt_tokens"], d["total_tokens"]) for d in docs) == [(1, 1), (2, 2), (3, 3)]


def test_records_get_their_time_when_stored(usage, db):
    usage.add_many([UsageRecord("ws", "u", "m", "p", "error", "workflow", error="cancelled")])
    (doc,) = db["usage"].find()
    assert doc["created_at"] is not None and doc["error"] == "cancelled"


# --- spend counters: the hand-written fake and MongoDB --------------------------------------------

COUNTER = Counter(SpendScope.WORKSPACE, "ws1", "2026-03")
KEY = Counter(SpendScope.API_KEY, "k1", "2026-03")
SOON = datetime(2026, 3, 15, 12, tzinfo=UTC)
LATER = datetime(2030, 1, 1, tzinfo=UTC)


@pytest.fixture(params=["fake", "mongo"])
def spend(request):
    if request.param == "fake":
        return FakeSpendRepository()
    repo = MongoSpendRepository(request.getfixturevalue("wire_db"))
    repo.ensure_indexes()
    return repo


def test_a_counter_never_written_is_zero(spend):
    assert spend.totals([COUNTER]) == {COUNTER: SpendTotals(0.0, 0.0)}


def test_costs_without_holds_add_up_per_counter(spend):
    spend.settle("c1", [(COUNTER, 0.0), (KEY, 0.0)], 0.25)
    spend.settle("c2", [(COUNTER, 0.0)], 0.25)
    spend.settle_many([])
    april = Counter(SpendScope.WORKSPACE, "ws1", "2026-04")
    assert spend.totals([COUNTER, KEY, april]) == {COUNTER: SpendTotals(pytest.approx(0.5), 0.0),
                                                   KEY: SpendTotals(pytest.approx(0.25), 0.0),
                                                   april: SpendTotals(0.0, 0.0)}


def test_holds_never_commit_more_than_the_budget(spend):
    assert spend.hold(COUNTER, "h1", 0.4, 1.0, LATER)
    assert spend.hold(COUNTER, "h2", 0.6, 1.0, LATER)  # exactly the budget
    assert not spend.hold(COUNTER, "h3", 0.01, 1.0, LATER)
    assert spend.totals([COUNTER])[COUNTER] == SpendTotals(0.0, pytest.approx(1.0))


def test_a_spent_budget_refuses_even_a_free_hold(spend):
    spend.settle("c1", [(COUNTER, 0.0)], 1.0)
    assert not spend.hold(COUNTER, "h1", 0.0, 1.0, LATER)
    assert not spend.hold(KEY, "h1", 0.0, 0.0, LATER)


def test_settling_replaces_the_hold_with_the_cost_once(spend):
    assert spend.hold(COUNTER, "h1", 0.8, 1.0, LATER)
    spend.settle("h1", [(COUNTER, 0.8), (KEY, 0.0)], 0.1)
    assert spend.totals([COUNTER, KEY]) == {COUNTER: SpendTotals(pytest.approx(0.1), 0.0),
                                            KEY: SpendTotals(pytest.approx(0.1), 0.0)}
    assert not spend.release(COUNTER, "h1", 0.8)
    spend.settle("h1", [(COUNTER, 0.8)], 0.1)  # the hold is gone: the cost alone is added
    assert spend.totals([COUNTER])[COUNTER] == SpendTotals(pytest.approx(0.2), 0.0)
    assert spend.hold(COUNTER, "h2", 0.75, 1.0, LATER)
    assert not spend.hold(COUNTER, "h3", 0.1, 1.0, LATER)


def test_settling_many_calls_at_once_is_settling_each(spend):
    assert spend.hold(COUNTER, "h1", 0.4, 1.0, LATER)
    assert spend.hold(COUNTER, "h2", 0.4, 1.0, LATER)
    assert spend.release(COUNTER, "h2", 0.4)  # swept before its call ended

    spend.settle_many([("h1", [(COUNTER, 0.4), (KEY, 0.0)], 0.1, False),
                       ("h2", [(COUNTER, 0.4), (KEY, 0.0)], 0.2, True),
                       ("h3", [(KEY, 0.0)], 0.05, False)])

    assert spend.totals([COUNTER, KEY]) == {COUNTER: SpendTotals(pytest.approx(0.3), 0.0),
                                            KEY: SpendTotals(pytest.approx(0.35), 0.0)}


def test_expired_holds_are_found_and_released_once(spend):
    assert spend.hold(COUNTER, "dead", 0.5, 1.0, SOON)
    assert spend.hold(COUNTER, "alive", 0.2, 1.0, LATER)
    assert spend.expired_holds(SOON + timedelta(seconds=1)) == [(COUNTER, "dead", 0.5)]
    assert spend.expired_holds(SOON) == []
    assert spend.release(COUNTER, "dead", 0.5) and not spend.release(COUNTER, "dead", 0.5)
    assert not spend.release(KEY, "dead", 0.5)
    assert spend.totals([COUNTER])[COUNTER] == SpendTotals(0.0, pytest.approx(0.2))


def test_each_alert_threshold_is_marked_once_on_a_counter_with_spend(spend):
    spend.settle("h", [(COUNTER, 0.0)], 0.6)
    assert spend.mark_alerted(COUNTER, 0.5) and not spend.mark_alerted(COUNTER, 0.5)
    assert spend.mark_alerted(COUNTER, 0.8)
    assert not spend.mark_alerted(KEY, 0.5)  # never written: nothing to alert about


# --- stored Responses API responses ----------------------------------------------------------


@pytest.fixture
def responses(backend, db):
    return repository(backend, db, MongoResponseRepository, MongoResponseRepository)


def stored_response(response_id: str, workspace: str = "ws1") -> StoredResponse:
    schema = {"type": "object", "$defs": {"a.b": {"type": "string"}}, "properties": {}}
    return StoredResponse(
        id=response_id, workspace_id=workspace, model="openai/mock-primary",
        messages=[{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}],
        body={"id": response_id, "object": "response", "tools": [
            {"type": "function", "name": "f", "parameters": schema}]},
        user_id="u1", created_at=utcnow())


def test_a_stored_response_comes_back_whole_with_keys_mongodb_cannot_name(responses):
    kept = stored_response("resp_1")
    responses.add(kept)
    found = responses.get("ws1", "resp_1")
    assert found is not None
    assert (found.messages, found.body, found.model) == (kept.messages, kept.body, kept.model)


def test_a_response_is_found_only_in_its_workspace(responses):
    responses.add(stored_response("resp_2", workspace="ws1"))
    assert responses.get("ws2", "resp_2") is None
    assert responses.get("ws1", "resp_404") is None
