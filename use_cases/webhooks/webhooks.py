"""Webhook registration (admin+) and the fan-out that turns workspace events into deliveries.

Deliveries are enqueued when an event is published, in the process that publishes it, rather than
by a bus subscriber: every event is enqueued exactly once whichever worker produced it, even when
no worker happens to be listening at that moment, and before the producing request answers.
"""
from __future__ import annotations

import builtins
import json
import logging
import secrets
import uuid
from collections.abc import Callable
from datetime import datetime

from entities.actor import Actor
from entities.clock import utcnow
from entities.errors import Conflict, NotFound, ValidationFailed
from entities.outbound import OutboundFailed, OutboundRefused
from entities.pagination import Page, PageRequest
from entities.webhook import WEBHOOK_EVENTS, Delivery, Webhook
from entities.workspace import WorkspaceRole
from use_cases.shared.ports import AuditLog, Encryptor, EventBus, OutboundHttp, Subscription
from use_cases.webhooks.ports import DeliveryRepository, WebhookRepository
from use_cases.workspaces.access import WorkspaceAccess

log = logging.getLogger(__name__)

SIGNING_PREFIX = "whsec_"
WORKSPACE_TOPIC = "workspace:"


class Webhooks:
    def __init__(self, webhooks: WebhookRepository, deliveries: DeliveryRepository,
                 encryptor: Encryptor, outbound: OutboundHttp, access: WorkspaceAccess,
                 audit: AuditLog, max_per_workspace: int):
        self.webhooks = webhooks
        self.delivery_log = deliveries
        self.encryptor = encryptor
        self.outbound = outbound
        self.access = access
        self.audit = audit
        self.max_per_workspace = max_per_workspace

    def list(self, actor: Actor, workspace_id: str) -> list[Webhook]:
        self.access.require(actor.user_id, workspace_id, WorkspaceRole.ADMIN)
        return self.webhooks.list(workspace_id)

    def create(self, actor: Actor, workspace_id: str, url: str,
               events: builtins.list[str]) -> tuple[Webhook, str]:
        """The new webhook and its signing secret, which is never shown again."""
        self.access.require(actor.user_id, workspace_id, WorkspaceRole.ADMIN)
        unknown = sorted(set(events) - set(WEBHOOK_EVENTS))
        if unknown or not events:
            raise ValidationFailed("Unknown or missing events", {
                "events": [f"Choose from {', '.join(WEBHOOK_EVENTS)}."]})
        try:  # the rules every delivery obeys, so a webhook that can never be delivered is 422
            self.outbound.check_url(url)
        except OutboundRefused as refused:
            raise ValidationFailed("This URL is not allowed", {"url": [refused.message]}) from None
        except OutboundFailed as failed:  # its host does not resolve: not an upstream error (502)
            raise ValidationFailed("This URL cannot be delivered to",
                                   {"url": [failed.message]}) from None
        if self.webhooks.count(workspace_id) >= self.max_per_workspace:
            raise Conflict(f"A workspace can have at most {self.max_per_workspace} webhooks")
        secret = SIGNING_PREFIX + secrets.token_urlsafe(32)
        webhook = self.webhooks.add(Webhook(
            id="", workspace_id=workspace_id, url=url, events=sorted(set(events)),
            encrypted_secret=self.encryptor.encrypt(secret), created_by=actor.user_id,
            created_at=utcnow()))
        self.audit.record("webhook.created", actor.user_id, "webhook", webhook.id,
                          workspace_id=workspace_id, ip=actor.ip,
                          details={"url": url, "events": webhook.events})
        return webhook, secret

    def delete(self, actor: Actor, workspace_id: str, webhook_id: str) -> None:
        self.access.require(actor.user_id, workspace_id, WorkspaceRole.ADMIN)
        if not self.webhooks.delete(workspace_id, webhook_id):
            raise NotFound("Webhook not found")
        self.audit.record("webhook.deleted", actor.user_id, "webhook", webhook_id,
                          workspace_id=workspace_id, ip=actor.ip)

    def deliveries(self, actor: Actor, workspace_id: str, webhook_id: str,
                   page: PageRequest) -> Page[Delivery]:
        self.access.require(actor.user_id, workspace_id, WorkspaceRole.ADMIN)
        if self.webhooks.get(workspace_id, webhook_id) is None:
            raise NotFound("Webhook not found")
        return self.delivery_log.page(webhook_id, page)


def _json_value(value: object) -> object:
    if isinstance(value, datetime):
        return value.isoformat().replace("+00:00", "Z")
    return str(value)


def delivery_body(event_id: str, event: str, workspace_id: str, created_at: datetime,
                  data: dict) -> str:
    return json.dumps({"id": event_id, "event": event, "workspace_id": workspace_id,
                       "created_at": _json_value(created_at), "data": data},
                      default=_json_value, separators=(",", ":"))


class WebhookFanout(EventBus):
    """The event bus, plus: a `workspace:{id}` event of a webhook event type is enqueued for
    every webhook of that workspace listening to it."""

    def __init__(self, bus: EventBus, webhooks: WebhookRepository, deliveries: DeliveryRepository,
                 on_enqueued: Callable[[], None] = lambda: None):
        self.bus = bus
        self.webhooks = webhooks
        self.deliveries = deliveries
        self.on_enqueued = on_enqueued

    def publish(self, topic: str, event: dict) -> None:
        self.bus.publish(topic, event)
        kind = event.get("type")
        if topic.startswith(WORKSPACE_TOPIC) and kind in WEBHOOK_EVENTS:
            try:
                self._enqueue(topic.removeprefix(WORKSPACE_TOPIC), kind, event)
            except Exception:  # the action that published has happened; say loudly what was lost
                log.exception("webhook deliveries not enqueued", extra={"fields": {
                    "topic": topic, "event": kind}})

    def subscribe(self, topics: list[str]) -> Subscription:
        return self.bus.subscribe(topics)

    def close(self) -> None:
        self.bus.close()

    def _enqueue(self, workspace_id: str, kind: str, event: dict) -> None:
        webhooks = self.webhooks.subscribed(workspace_id, kind)
        if not webhooks:
            return
        now = utcnow()
        event_id = uuid.uuid4().hex
        data = {key: value for key, value in event.items() if key not in ("type", "topic")}
        body = delivery_body(event_id, kind, workspace_id, now, data)
        self.deliveries.add_many([
            Delivery(id="", webhook_id=webhook.id, workspace_id=workspace_id, event=kind,
                     event_id=event_id, body=body, next_attempt_at=now, created_at=now)
            for webhook in webhooks])
        self.on_enqueued()
