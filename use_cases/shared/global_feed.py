"""The service-wide feed global admins follow on `/api/v1/ws/global` (the seed documents' global
event feed): one event-bus topic that the use cases causing service-wide events publish to.

Events (JSON objects with `type`): `user.registered` {user_id, email, name},
`workspace.created` {workspace_id, name, owner_id}, `provider.failover` {model, answered_by,
provider, workspace_id, source} (at most once per model pair and `quiet_s` per process: a
failing provider must not flood the feed), and `budget.threshold_reached` (as workspaces get it).
"""
from __future__ import annotations

import logging
import time
from collections.abc import Callable

from entities.llm import UsageRecord
from use_cases.shared.ports import EventBus
from use_cases.shared.ttl_cache import TtlCache

log = logging.getLogger(__name__)

TOPIC = "global"
FAILOVER_QUIET_S = 60.0


def announce(bus: EventBus, event: dict) -> None:
    """Publishes `event` on the global feed. Never raises: the feed is a notice, and the work
    that caused it (a registration, a reply) has already happened."""
    try:
        bus.publish(TOPIC, event)
    except Exception:
        log.warning("could not publish on the global feed", exc_info=True)


class FailoverNotices:
    """Tells the global feed when a model call was answered by a fallback model."""

    def __init__(self, bus: EventBus, quiet_s: float = FAILOVER_QUIET_S,
                 clock: Callable[[], float] = time.monotonic):
        self.bus = bus
        self._told = TtlCache(quiet_s, max_size=1000, clock=clock)

    def heard(self, record: UsageRecord) -> None:
        """`record`: a finished call's usage; nothing happens unless `fallback_from` is set."""
        if not record.fallback_from:
            return
        pair = (record.fallback_from, record.model)
        fresh: list[bool] = []
        self._told.get_or_load(pair, lambda: fresh.append(True))
        if fresh:
            announce(self.bus, {"type": "provider.failover", "model": record.fallback_from,
                                "answered_by": record.model, "provider": record.provider,
                                "workspace_id": record.workspace_id, "source": record.source})
