"""Feeding the Metrics port from the places every model call and workflow run pass through."""
from __future__ import annotations

import logging
from typing import Any

from entities.llm import UsageRecord
from use_cases.gateway.ports import UsageRepository
from use_cases.gateway.usage_recorder import UsageRecorder
from use_cases.metrics.ports import Metrics
from use_cases.shared.ports import EventBus, Subscription
from use_cases.workflows.events import is_terminal_event, unpack

log = logging.getLogger(__name__)

EXECUTION_TOPIC = "execution:"


class MeteredUsageRecorder(UsageRecorder):
    """Every model call, from any path (talks, /llm, /v1, workflows), is recorded here: the
    same moment counts it for Prometheus."""

    def __init__(self, repository: UsageRepository, metrics: Metrics, **options: Any):
        super().__init__(repository, **options)
        self.metrics = metrics

    def record(self, record: UsageRecord, durable: bool = False) -> None:
        try:
            self.metrics.llm_call(record)
        except Exception:  # counting must never cost a usage record
            log.exception("could not count a model call in the metrics")
        super().record(record, durable)


class MeteredEvents(EventBus):
    """The event bus, counting workflow runs as their final event is published (in the process
    that ran them, so each run counts once whichever worker watches)."""

    def __init__(self, bus: EventBus, metrics: Metrics):
        self.bus = bus
        self.metrics = metrics

    def publish(self, topic: str, event: dict) -> None:
        self.bus.publish(topic, event)
        if not topic.startswith(EXECUTION_TOPIC):
            return
        for message in unpack(event):  # one event, or a run's batch of them
            if is_terminal_event(message):
                execution = message.get("execution") or {}
                self.metrics.workflow_run(str(execution.get("status", "unknown")))

    def subscribe(self, topics: list[str]) -> Subscription:
        return self.bus.subscribe(topics)

    def close(self) -> None:
        self.bus.close()
