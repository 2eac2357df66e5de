"""Feeding the Metrics port from the places every model call, budget refusal and workflow run
pass through."""
from __future__ import annotations

import logging
from typing import Any

from entities.budget import Reservation
from entities.errors import BudgetExceeded
from entities.llm import UsageRecord
from use_cases.gateway.budgets import Budgets
from use_cases.gateway.ports import UsageRepository
from use_cases.gateway.usage_recorder import UsageRecorder
from use_cases.metrics.ports import Metrics
from use_cases.shared.global_feed import FailoverNotices
from use_cases.shared.ports import EventBus, Subscription
from use_cases.workflows.events import is_terminal_event, unpack

log = logging.getLogger(__name__)

EXECUTION_TOPIC = "execution:"


class MeteredUsageRecorder(UsageRecorder):
    """Every model call, from any path (talks, /llm, /v1, workflows), is recorded here: the
    same moment counts it for Prometheus and tells the global feed of a fallback's answer."""

    def __init__(self, repository: UsageRepository, metrics: Metrics,
                 failovers: FailoverNotices, **options: Any):
        super().__init__(repository, **options)
        self.metrics = metrics
        self.failovers = failovers  # the global feed hears of calls a fallback answered

    def record(self, record: UsageRecord, durable: bool = False) -> None:
        try:
            self.metrics.llm_call(record)
        except Exception:  # counting must never cost a usage record
            log.exception("could not count a model call in the metrics")
        self.failovers.heard(record)
        super().record(record, durable)


class MeteredBudgets(Budgets):
    """Budgets, counting the model calls they refuse (by the scope of the budget that is spent):
    every call on every path reserves here first."""

    def __init__(self, *args: Any, metrics: Metrics, **options: Any):
        super().__init__(*args, **options)
        self.metrics = metrics

    def reserve(self, workspace_id: str | None, api_key_id: str | None, user_id: str | None,
                worst_case_usd: float) -> Reservation:
        try:
            return super().reserve(workspace_id, api_key_id, user_id, worst_case_usd)
        except BudgetExceeded as refused:
            try:
                self.metrics.budget_refusal(str(refused.details.get("scope", "unknown")))
            except Exception:  # counting must never change the answer
                log.exception("could not count a budget refusal in the metrics")
            raise


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
