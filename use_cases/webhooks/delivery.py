"""Delivers queued webhook events: signs each body, POSTs it, retries with exponential backoff.

The queue lives in the database, so pending deliveries survive restarts, and every process may
run a dispatcher: claims are atomic, and a delivery claimed by a process that died is taken up
again once its lease ends (at-least-once delivery; receivers dedupe on X-SynapScale-Delivery).
"""
from __future__ import annotations

import hashlib
import hmac
import logging
import threading
import time
from datetime import timedelta

from entities.clock import utcnow
from entities.outbound import OutboundFailed, OutboundRefused
from entities.webhook import Delivery, DeliveryAttempt, DeliveryStatus, RetryPolicy
from use_cases.shared.ports import Encryptor, OutboundHttp
from use_cases.webhooks.ports import DeliveryRepository, WebhookRepository

log = logging.getLogger(__name__)

USER_AGENT = "SynapScale-Webhooks/1"
LEASE_MARGIN_S = 30.0
ERROR_PAUSE_S = 5.0


def signature(secret: str, body: bytes) -> str:
    """The X-SynapScale-Signature value: receivers recompute it over the raw body."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


class WebhookDispatcher:
    def __init__(self, webhooks: WebhookRepository, deliveries: DeliveryRepository,
                 encryptor: Encryptor, outbound: OutboundHttp, policy: RetryPolicy,
                 timeout_s: float = 10.0, poll_interval_s: float = 1.0):
        self.webhooks = webhooks
        self.deliveries = deliveries
        self.encryptor = encryptor
        self.outbound = outbound
        self.policy = policy
        self.timeout_s = timeout_s
        self.poll_interval_s = poll_interval_s
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # --- the background loop -------------------------------------------------------------------

    def start(self) -> None:
        if self._thread is None or not self._thread.is_alive():
            self._thread = threading.Thread(target=self._run, name="webhook-dispatcher",
                                            daemon=True)
            self._thread.start()

    def wake(self) -> None:
        """A delivery was just enqueued by this process: attempt it now, not at the next poll."""
        self._wake.set()

    def close(self) -> None:
        self._stop.set()
        self._wake.set()

    def _run(self) -> None:
        while not self._stop.is_set():
            pause = self.poll_interval_s
            try:
                while not self._stop.is_set() and self.deliver_next():
                    pass
            except Exception as error:  # database away or a bug: keep the loop alive
                log.warning("webhook dispatcher paused: %s", type(error).__name__,
                            exc_info=log.isEnabledFor(logging.DEBUG))
                pause = max(pause, ERROR_PAUSE_S)
            self._wake.wait(pause)
            self._wake.clear()

    # --- one delivery --------------------------------------------------------------------------

    def deliver_next(self) -> bool:
        """Attempt one due delivery; False when none is due."""
        now = utcnow()
        lease_until = now + timedelta(seconds=self.timeout_s + LEASE_MARGIN_S)
        delivery = self.deliveries.claim_due(now, lease_until)
        if delivery is None:
            return False
        self.attempt(delivery)
        return True

    def attempt(self, delivery: Delivery) -> None:
        webhook = self.webhooks.get(delivery.workspace_id, delivery.webhook_id)
        started = time.perf_counter()
        status_code, error, retry = None, None, True
        if webhook is None:
            error, retry = "The webhook was deleted", False
        else:
            try:
                status_code = self._post(webhook.url, self.encryptor.decrypt(
                    webhook.encrypted_secret), delivery)
                if not 200 <= status_code < 300:
                    error = f"HTTP {status_code}"
            except OutboundRefused as refused:
                error, retry = f"Refused: {refused.message}", False
            except OutboundFailed as failed:
                error = failed.message
        self._record(delivery, status_code, error, retry, time.perf_counter() - started)

    def _post(self, url: str, secret: str, delivery: Delivery) -> int:
        body = delivery.body.encode()
        headers = {
            "Content-Type": "application/json",
            "User-Agent": USER_AGENT,
            "X-SynapScale-Event": delivery.event,
            "X-SynapScale-Delivery": delivery.id,
            "X-SynapScale-Signature": signature(secret, body),
        }
        response = self.outbound.request("POST", url, headers=headers, body=body,
                                         timeout_s=self.timeout_s, max_bytes=64 * 1024)
        return response.status

    def _record(self, delivery: Delivery, status_code: int | None, error: str | None,
                retry: bool, elapsed_s: float) -> None:
        now = utcnow()
        attempts = delivery.attempts + 1
        attempt = DeliveryAttempt(at=now, status_code=status_code, error=error,
                                  duration_ms=round(elapsed_s * 1000, 1))
        next_attempt_at = None
        if error is None:
            status = DeliveryStatus.DELIVERED
        elif retry and attempts < self.policy.max_attempts:
            status = DeliveryStatus.PENDING
            next_attempt_at = now + timedelta(seconds=self.policy.delay_after(attempts))
        else:
            status = DeliveryStatus.FAILED
        self.deliveries.record_attempt(delivery.id, attempt, status, next_attempt_at)
        log.info("webhook delivery attempt", extra={"fields": {
            "delivery_id": delivery.id, "webhook_id": delivery.webhook_id,
            "event": delivery.event, "attempt": attempts, "status_code": status_code,
            "error": error, "result": status.value}})
