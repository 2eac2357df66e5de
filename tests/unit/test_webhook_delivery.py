"""The webhook fan-out and dispatcher against in-memory fakes."""
import hashlib
import hmac
import json
from datetime import timedelta

import pytest

from entities.clock import utcnow
from entities.outbound import HttpResponse, OutboundFailed, OutboundRefused
from entities.pagination import Page
from entities.webhook import Delivery, DeliveryStatus, RetryPolicy, Webhook
from use_cases.shared.ports import Encryptor, EventBus, OutboundHttp
from use_cases.webhooks.delivery import WebhookDispatcher
from use_cases.webhooks.ports import DeliveryRepository, WebhookRepository
from use_cases.webhooks.webhooks import WebhookFanout


class FakeWebhooks(WebhookRepository):
    def __init__(self, *webhooks):
        self.items = {w.id: w for w in webhooks}

    def add(self, webhook):
        self.items[webhook.id] = webhook
        return webhook

    def get(self, workspace_id, webhook_id):
        found = self.items.get(webhook_id)
        return found if found and found.workspace_id == workspace_id else None

    def list(self, workspace_id):
        return [w for w in self.items.values() if w.workspace_id == workspace_id]

    def count(self, workspace_id):
        return len(self.list(workspace_id))

    def delete(self, workspace_id, webhook_id):
        return self.items.pop(webhook_id, None) is not None

    def subscribed(self, workspace_id, event):
        return [w for w in self.list(workspace_id) if event in w.events]


class FakeDeliveries(DeliveryRepository):
    def __init__(self):
        self.items: dict[str, Delivery] = {}

    def add_many(self, deliveries):
        for delivery in deliveries:
            key = (delivery.event_id, delivery.webhook_id)
            if all((d.event_id, d.webhook_id) != key for d in self.items.values()):
                delivery.id = str(len(self.items) + 1)
                self.items[delivery.id] = delivery

    def claim_due(self, now, lease_until):
        due = [d for d in self.items.values()
               if d.status == DeliveryStatus.PENDING and d.next_attempt_at <= now]
        if not due:
            return None
        delivery = min(due, key=lambda d: d.next_attempt_at)
        claimed = Delivery(**{**delivery.__dict__})
        delivery.next_attempt_at = lease_until
        return claimed

    def record_attempt(self, delivery_id, attempt, status, next_attempt_at):
        delivery = self.items[delivery_id]
        delivery.attempts += 1
        delivery.status, delivery.next_attempt_at = status, next_attempt_at
        delivery.status_code, delivery.error = attempt.status_code, attempt.error
        delivery.log.append(attempt)

    def page(self, webhook_id, page):
        items = [d for d in self.items.values() if d.webhook_id == webhook_id]
        return Page(items, page.page, page.size, len(items))


class NullBus(EventBus):
    def __init__(self):
        self.published = []

    def publish(self, topic, event):
        self.published.append((topic, event))

    def subscribe(self, topics):
        raise NotImplementedError


class PlainText(Encryptor):
    def encrypt(self, plaintext):
        return "enc:" + plaintext

    def decrypt(self, ciphertext):
        return ciphertext.removeprefix("enc:")


class ScriptedHttp(OutboundHttp):
    """Answers each request with the next scripted status or exception."""

    def __init__(self, *script):
        self.script = list(script)
        self.requests = []

    def check_url(self, url):
        pass

    def request(self, method, url, headers=None, body=None, timeout_s=10.0, max_bytes=0):
        self.requests.append((method, url, headers, body))
        outcome = self.script.pop(0) if self.script else 200
        if isinstance(outcome, Exception):
            raise outcome
        return HttpResponse(outcome)


def hook(hook_id="w1", events=("member.added",), workspace="ws1"):
    return Webhook(id=hook_id, workspace_id=workspace, url=f"https://example.com/{hook_id}",
                   events=list(events), encrypted_secret="enc:whsec_s3cret", created_by="u1")


@pytest.fixture
def queue():
    return FakeDeliveries()


def make_dispatcher(webhooks, queue, http, attempts=3):
    return WebhookDispatcher(webhooks, queue, PlainText(), http,
                             RetryPolicy(max_attempts=attempts, base_delay_s=10, max_delay_s=25))


def make_due(queue):
    for delivery in queue.items.values():
        if delivery.next_attempt_at:
            delivery.next_attempt_at = utcnow() - timedelta(seconds=1)


def test_a_workspace_event_is_enqueued_once_for_each_webhook_listening_to_it(queue):
    webhooks = FakeWebhooks(hook("w1"), hook("w2"), hook("w3", events=["file.uploaded"]),
                            hook("w4", workspace="ws2"))
    bus = NullBus()
    WebhookFanout(bus, webhooks, queue).publish("workspace:ws1", {"type": "member.added", "x": 1})
    assert sorted(d.webhook_id for d in queue.items.values()) == ["w1", "w2"]
    assert bus.published == [("workspace:ws1", {"type": "member.added", "x": 1})]
    body = json.loads(next(iter(queue.items.values())).body)
    assert body["data"] == {"x": 1} and body["event"] == "member.added"
    assert body["workspace_id"] == "ws1"


def test_events_that_are_not_webhook_events_or_not_on_a_workspace_topic_are_not_enqueued(queue):
    fanout = WebhookFanout(NullBus(), FakeWebhooks(hook()), queue)
    fanout.publish("user:u1", {"type": "member.added"})
    fanout.publish("workspace:ws1", {"type": "talk.renamed"})
    assert queue.items == {}


def test_a_delivery_is_signed_with_the_webhook_secret(queue):
    WebhookFanout(NullBus(), FakeWebhooks(hook()), queue).publish(
        "workspace:ws1", {"type": "member.added"})
    http = ScriptedHttp(204)
    assert make_dispatcher(FakeWebhooks(hook()), queue, http).deliver_next()
    _method, _url, headers, body = http.requests[0]
    expected = hmac.new(b"whsec_s3cret", body, hashlib.sha256).hexdigest()
    assert headers["X-SynapScale-Signature"] == f"sha256={expected}"
    assert next(iter(queue.items.values())).status == DeliveryStatus.DELIVERED


def test_failures_are_retried_after_doubling_delays_then_given_up(queue):
    webhooks = FakeWebhooks(hook())
    WebhookFanout(NullBus(), webhooks, queue).publish("workspace:ws1", {"type": "member.added"})
    dispatcher = make_dispatcher(webhooks, queue, ScriptedHttp(500, OutboundFailed("timed out"), 502))
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
    WebhookFanout(NullBus(), webhooks, queue).publish("workspace:ws1", {"type": "member.added"})
    make_dispatcher(webhooks, queue, ScriptedHttp(OutboundRefused("10.0.0.1 is private"))).deliver_next()
    delivery = next(iter(queue.items.values()))
    assert delivery.status == DeliveryStatus.FAILED and delivery.attempts == 1
    assert delivery.error == "Refused: 10.0.0.1 is private"


def test_the_backoff_is_capped():
    policy = RetryPolicy(max_attempts=10, base_delay_s=30, max_delay_s=3600)
    assert [policy.delay_after(n) for n in (1, 2, 3, 8, 9)] == [30, 60, 120, 3600, 3600]
