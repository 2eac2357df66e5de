"""The webhook fan-out and dispatcher against in-memory fakes."""
import hashlib
import hmac
import json
from datetime import timedelta

import pytest

from entities.clock import utcnow
from entities.outbound import OutboundFailed, OutboundRefused
from entities.webhook import DeliveryStatus, RetryPolicy, Webhook
from tests.fakes.shared import FakeEncryptor, FakeEventBus, FakeOutboundHttp
from tests.fakes.webhooks import FakeWebhookRepository as FakeWebhooks
from tests.fakes.webhooks import delivery_repository
from use_cases.webhooks.delivery import WebhookDispatcher
from use_cases.webhooks.webhooks import WebhookFanout


def hook(hook_id="w1", events=("member.added",), workspace="ws1"):
    return Webhook(id=hook_id, workspace_id=workspace, url=f"https://example.com/{hook_id}",
                   events=list(events), encrypted_secret=FakeEncryptor().encrypt("whsec_s3cret"),
                   created_by="u1")


@pytest.fixture
def queue():
    return delivery_repository()


def make_dispatcher(webhooks, queue, http, attempts=3):
    return WebhookDispatcher(webhooks, queue, FakeEncryptor(), http,
                             RetryPolicy(max_attempts=attempts, base_delay_s=10, max_delay_s=25))


def make_due(queue):
    for delivery in queue.items.values():
        if delivery.next_attempt_at:
            delivery.next_attempt_at = utcnow() - timedelta(seconds=1)


def test_a_workspace_event_is_enqueued_once_for_each_webhook_listening_to_it(queue):
    webhooks = FakeWebhooks(hook("w1"), hook("w2"), hook("w3", events=["file.uploaded"]),
                            hook("w4", workspace="ws2"))
    bus = FakeEventBus()
    WebhookFanout(bus, webhooks, queue).publish("workspace:ws1", {"type": "member.added", "x": 1})
    assert sorted(d.webhook_id for d in queue.items.values()) == ["w1", "w2"]
    assert bus.published == [("workspace:ws1", {"type": "member.added", "x": 1})]
    body = json.loads(next(iter(queue.items.values())).body)
    assert body["data"] == {"x": 1} and body["event"] == "member.added"
    assert body["workspace_id"] == "ws1"


def test_events_that_are_not_webhook_events_or_not_on_a_workspace_topic_are_not_enqueued(queue):
    fanout = WebhookFanout(FakeEventBus(), FakeWebhooks(hook()), queue)
    fanout.publish("user:u1", {"type": "member.added"})
    fanout.publish("workspace:ws1", {"type": "talk.renamed"})
    assert queue.items == {}


def test_a_delivery_is_signed_with_the_webhook_secret(queue):
    WebhookFanout(FakeEventBus(), FakeWebhooks(hook()), queue).publish(
        "workspace:ws1", {"type": "member.added"})
    http = FakeOutboundHttp(204)
    assert make_dispatcher(FakeWebhooks(hook()), queue, http).deliver_next()
    _method, _url, headers, body = http.requests[0]
    expected = hmac.new(b"whsec_s3cret", body, hashlib.sha256).hexdigest()
    assert headers["X-SynapScale-Signature"] == f"sha256={expected}"
    assert next(iter(queue.items.values())).status == DeliveryStatus.DELIVERED


def test_failures_are_retried_after_doubling_delays_then_given_up(queue):
    webhooks = FakeWebhooks(hook())
    WebhookFanout(FakeEventBus(), webhooks, queue).publish("workspace:ws1", {"type": "member.added"})
    dispatcher = make_dispatcher(webhooks, queue, FakeOutboundHttp(500, OutboundFailed("timed out"), 502))
    delivery = next(iter(queue.items.values()))

    delays = []
    for _ in range(3):
        before = utcnow()
        assert dispatcher.deliver_next()
        if delivery.next_attempt_at:
            delays.append((delivery.next_attempt_at - before).total_seconds())
        assert not dispatcher.deliver_next()  # not due yet
        make_due(queue)
    assert [round(d) for d in delays] == [10, 20]
    assert delivery.status == DeliveryStatus.FAILED and delivery.attempts == 3
    assert [a.error for a in delivery.log] == ["HTTP 500", "timed out", "HTTP 502"]


def test_a_refused_address_fails_at_once_without_retries(queue):
    webhooks = FakeWebhooks(hook())
    WebhookFanout(FakeEventBus(), webhooks, queue).publish("workspace:ws1", {"type": "member.added"})
    make_dispatcher(webhooks, queue, FakeOutboundHttp(OutboundRefused("10.0.0.1 is private"))).deliver_next()
    delivery = next(iter(queue.items.values()))
    assert delivery.status == DeliveryStatus.FAILED and delivery.attempts == 1
    assert delivery.error == "Refused: 10.0.0.1 is private"


def test_the_backoff_is_capped():
    policy = RetryPolicy(max_attempts=10, base_delay_s=30, max_delay_s=3600)
    assert [policy.delay_after(n) for n in (1, 2, 3, 8, 9)] == [30, 60, 120, 3600, 3600]
