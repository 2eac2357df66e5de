"""Records of idempotent requests: the same results on mongomock (what unit tests use) and on the
wire server, and on the wire, one winner among concurrent claims of a key."""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from threading import Barrier

import pytest
from bson import ObjectId

from entities.clock import utcnow
from entities.idempotency import IdempotencyRecord, StoredResponse
from repositories.idempotency import MongoIdempotencyRepository
from tests.contract.conftest import repository
from tests.fakes.shared import MongomockIdempotencyRepository

USER = str(ObjectId())


@pytest.fixture
def keys(backend, db):
    return repository(backend, db, MongomockIdempotencyRepository, MongoIdempotencyRepository)


def record(claim_id: str = "c1", key: str = "k1", user: str = USER, route: str = "POST /a",
           fingerprint: str = "f1", lease_s: float = 60, ttl_s: float = 3600) -> IdempotencyRecord:
    now = utcnow()
    return IdempotencyRecord(user_id=user, route=route, key=key, fingerprint=fingerprint,
                             claim_id=claim_id, lease_until=now + timedelta(seconds=lease_s),
                             expires_at=now + timedelta(seconds=ttl_s), created_at=now)


def test_the_first_claim_wins_and_a_repeat_reads_the_running_holder(keys):
    assert keys.claim(record("c1"), utcnow()) is None
    holder = keys.claim(record("c2"), utcnow())
    assert (holder.claim_id, holder.fingerprint, holder.user_id, holder.response) == (
        "c1", "f1", USER, None)


def test_keys_are_per_user_and_per_route(keys):
    assert keys.claim(record("c1"), utcnow()) is None
    assert keys.claim(record("c2", user=str(ObjectId())), utcnow()) is None
    assert keys.claim(record("c3", route="POST /b"), utcnow()) is None
    assert keys.claim(record("c4", key="k2"), utcnow()) is None


def test_a_finished_claim_gives_its_response_with_references_as_stored(keys, db, backend):
    first = record("c1")
    keys.claim(first, utcnow())
    message_id = str(ObjectId())
    assert keys.finish(first, StoredResponse(200, {"a.b": 1, "$c": [1, "x"]}, "talk_reply",
                                             {"message_id": message_id}, {"Location": "/x"}))
    replay = keys.claim(record("c2"), utcnow()).response
    assert replay == StoredResponse(200, {"a.b": 1, "$c": [1, "x"]}, "talk_reply",
                                    {"message_id": message_id}, {"Location": "/x"})
    doc = db["idempotency_keys"].find_one({})
    assert isinstance(doc["user_id"], ObjectId) and isinstance(doc["refs"]["message_id"], ObjectId)


def test_only_the_holding_claim_finishes_or_releases(keys):
    first = record("c1", lease_s=-1)  # its worker died: the lease is over
    keys.claim(first, utcnow())
    second = record("c2")
    assert keys.claim(second, utcnow()) is None  # taken over
    assert not keys.finish(first, StoredResponse(201, {"late": True}))
    keys.release(first)
    assert keys.claim(record("c3"), utcnow()).claim_id == "c2"
    assert keys.finish(second, StoredResponse(201, {"id": 1}))
    keys.release(second)  # a finished record is not released
    assert keys.claim(record("c4"), utcnow()).response == StoredResponse(201, {"id": 1})


def test_a_released_key_can_be_claimed_again(keys):
    first = record("c1")
    keys.claim(first, utcnow())
    keys.release(first)
    assert keys.claim(record("c2"), utcnow()) is None


def test_an_expired_record_is_gone_for_a_claim_even_before_the_ttl_monitor_runs(keys):
    old = record("c1", ttl_s=-1)
    keys.claim(old, utcnow())
    keys.finish(old, StoredResponse(201, {"id": 1}))
    assert keys.claim(record("c2"), utcnow()) is None


def test_records_expire_through_a_ttl_index(keys, db):
    ttl = [index for index in db["idempotency_keys"].list_indexes() if index["name"] == "ttl"]
    assert ttl and ttl[0]["expireAfterSeconds"] == 0


def test_of_concurrent_claims_of_one_key_exactly_one_wins(wire_db):
    keys = MongoIdempotencyRepository(wire_db)
    keys.ensure_indexes()
    start = Barrier(8)

    def claim(n: int):
        start.wait()
        return keys.claim(record(f"c{n}"), utcnow())

    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(claim, range(8)))
    assert sum(result is None for result in results) == 1
    winners = {result.claim_id for result in results if result is not None}
    assert len(winners) == 1
