"""Webhooks: FakeWebhookRepository (unit tests name their webhooks, which MongoDB cannot store)
against MongoWebhookRepository on the wire server. The delivery queue: the same results on
mongomock (as unit tests run it) and on the wire server."""
from __future__ import annotations

from datetime import timedelta

import pytest

from entities.clock import utcnow
from entities.pagination import PageRequest
from entities.webhook import Delivery, DeliveryAttempt, DeliveryStatus, Webhook
from repositories.webhooks import MongoDeliveryRepository, MongoWebhookRepository
from tests.contract.conftest import repository
from tests.fakes.webhooks import FakeWebhookRepository, MongomockDeliveryRepository

# --- webhooks: the hand-written fake and MongoDB ----------------------------------------------------


@pytest.fixture(params=["fake", "mongo"])
def webhooks(request):
    if request.param == "fake":
        return FakeWebhookRepository()
    repo = MongoWebhookRepository(request.getfixturevalue("wire_db"))
    repo.ensure_indexes()
    return repo


def hook(workspace: str = "ws1", events=("member.added",)) -> Webhook:
    return Webhook(id="", workspace_id=workspace, url="https://example.com/hook",
                   events=list(events), encrypted_secret="enc:s", created_by="u1",
                   created_at=utcnow())


def test_a_webhook_gets_an_id_and_is_found_only_in_its_workspace(webhooks):
    stored = webhooks.add(hook())
    assert stored.id and webhooks.get("ws1", stored.id).url == "https://example.com/hook"
    assert webhooks.get("ws2", stored.id) is None and webhooks.get("ws1", "f" * 24) is None


def test_webhooks_are_listed_counted_and_matched_per_workspace_in_creation_order(webhooks):
    first = webhooks.add(hook(events=["member.added", "file.uploaded"]))
    second = webhooks.add(hook(events=["file.uploaded"]))
    webhooks.add(hook("ws2"))
    assert [w.id for w in webhooks.list("ws1")] == [first.id, second.id]
    assert webhooks.count("ws1") == 2 and webhooks.count("ws3") == 0
    assert [w.id for w in webhooks.subscribed("ws1", "file.uploaded")] == [first.id, second.id]
    assert [w.id for w in webhooks.subscribed("ws1", "member.added")] == [first.id]
    assert webhooks.subscribed("ws1", "talk.created") == []


def test_a_webhook_is_deleted_once_and_only_by_its_workspace(webhooks):
    stored = webhooks.add(hook())
    assert not webhooks.delete("ws2", stored.id)
    assert webhooks.delete("ws1", stored.id) and not webhooks.delete("ws1", stored.id)
    assert webhooks.count("ws1") == 0


# --- the delivery queue -------------------------------------------------------------------------


@pytest.fixture
def deliveries(backend, db):
    return repository(backend, db, MongomockDeliveryRepository, MongoDeliveryRepository)


def delivery(event_id: str, webhook_id: str = "w1", due_in_s: float = -1) -> Delivery:
    now = utcnow()
    return Delivery(id="", webhook_id=webhook_id, workspace_id="ws1", event="member.added",
                    event_id=event_id, body='{"x": 1}', next_attempt_at=now + timedelta(
                        seconds=due_in_s), created_at=now)


def test_an_event_is_enqueued_once_per_webhook(deliveries):
    deliveries.add_many([delivery("e1"), delivery("e1", "w2")])
    deliveries.add_many([delivery("e1"), delivery("e2")])
    assert deliveries.page("w1", PageRequest()).total == 2
    assert deliveries.page("w2", PageRequest()).total == 1


def test_the_most_overdue_delivery_is_claimed_and_hidden_until_its_lease_ends(deliveries):
    deliveries.add_many([delivery("late", due_in_s=-5), delivery("later", due_in_s=-1),
                         delivery("future", due_in_s=60)])
    now = utcnow()
    claimed = deliveries.claim_due(now, now + timedelta(seconds=30))
    assert (claimed.event_id, claimed.status, claimed.body) == ("late", DeliveryStatus.PENDING,
                                                                '{"x": 1}')
    assert deliveries.claim_due(now, now + timedelta(seconds=30)).event_id == "later"
    assert deliveries.claim_due(now, now + timedelta(seconds=30)) is None
    assert deliveries.claim_due(now + timedelta(seconds=31), now).event_id == "late"


def test_attempts_are_logged_and_a_finished_delivery_is_not_claimed_again(deliveries):
    deliveries.add_many([delivery("e1")])
    now = utcnow()
    claimed = deliveries.claim_due(now, now + timedelta(seconds=30))
    failed = DeliveryAttempt(now, 500, "HTTP 500", 12.0)
    deliveries.record_attempt(claimed.id, failed, DeliveryStatus.PENDING, now)
    deliveries.record_attempt(claimed.id, DeliveryAttempt(now, 204, None, 8.0),
                              DeliveryStatus.DELIVERED, None)
    (stored,) = deliveries.page("w1", PageRequest()).items
    assert (stored.status, stored.attempts, stored.status_code) == (DeliveryStatus.DELIVERED, 2,
                                                                    204)
    assert stored.delivered_at is not None and stored.next_attempt_at is None
    assert [(a.status_code, a.error) for a in stored.log] == [(500, "HTTP 500"), (204, None)]
    assert deliveries.claim_due(now + timedelta(days=1), now) is None


def test_the_log_pages_newest_first(deliveries):
    start = utcnow()
    for n in range(3):
        item = delivery(f"e{n}")
        item.created_at = start + timedelta(seconds=n)
        deliveries.add_many([item])
    page = deliveries.page("w1", PageRequest(page=1, size=2))
    assert ([d.event_id for d in page.items], page.total) == (["e2", "e1"], 3)
