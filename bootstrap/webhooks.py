"""Webhooks: their management, and the dispatcher that delivers the queued events."""
from __future__ import annotations

from dataclasses import dataclass

from entities.webhook import RetryPolicy
from use_cases.shared.ports import AuditLog, Encryptor, OutboundHttp
from use_cases.webhooks.delivery import WebhookDispatcher
from use_cases.webhooks.ports import DeliveryRepository, WebhookRepository
from use_cases.webhooks.webhooks import WebhookFanout, Webhooks
from use_cases.workspaces.access import WorkspaceAccess


@dataclass(frozen=True)
class WebhookLimits:
    max_per_workspace: int
    retry: RetryPolicy
    timeout_s: float  # one delivery attempt
    poll_interval_s: float  # how often the dispatcher looks for due deliveries


@dataclass(frozen=True)
class WebhookUseCases:
    webhooks: Webhooks
    webhook_dispatcher: WebhookDispatcher  # a thread once started: close() stops it


def build_webhooks(*, events: WebhookFanout, webhook_repo: WebhookRepository,
                   deliveries: DeliveryRepository, encryptor: Encryptor, outbound: OutboundHttp,
                   access: WorkspaceAccess, audit: AuditLog,
                   limits: WebhookLimits) -> WebhookUseCases:
    """`events` is the event bus every area publishes on; the deliveries it queues now wake
    this process's dispatcher."""
    dispatcher = WebhookDispatcher(webhook_repo, deliveries, encryptor, outbound, limits.retry,
                                   timeout_s=limits.timeout_s,
                                   poll_interval_s=limits.poll_interval_s)
    events.on_enqueued = dispatcher.wake
    return WebhookUseCases(
        webhooks=Webhooks(webhook_repo, deliveries, encryptor, outbound, access, audit,
                          max_per_workspace=limits.max_per_workspace),
        webhook_dispatcher=dispatcher,
    )
