"""The one metered model call, on every path (talk replies, `/api/v1/llm`, `/v1`, workflow `llm`
nodes): its worst-case cost is reserved against every budget that applies before the provider
is called, and when it ends it becomes exactly one usage record and its reservation is settled
with what it actually cost.

A finished call's usage record is written before the caller reports the reply complete (a
worker killed right after a reply loses neither its usage nor its spend). A call cut short (the
client went away, the user stopped it, the provider failed midway, the reply passed the size cap)
is billed for the prompt and the text produced until then.
"""
from __future__ import annotations

import time
from dataclasses import replace

from entities.budget import Reservation
from entities.errors import DomainError
from entities.llm import ChatRequest, ChatResult, Usage, UsageRecord
from use_cases.gateway.budgets import Budgets
from use_cases.gateway.estimates import estimate_usage, worst_case_cost
from use_cases.gateway.ports import LLMGateway
from use_cases.gateway.usage_recorder import UsageRecorder


class ModelCallMeter:
    def __init__(self, gateway: LLMGateway, budgets: Budgets, usage: UsageRecorder):
        self.gateway = gateway
        self.budgets = budgets
        self.usage = usage

    def start(self, request: ChatRequest, record: UsageRecord) -> MeteredCall:
        """Reserves the call's worst case (BudgetExceeded, 402, when a budget cannot take it).
        `request` names its model; `record` describes the call (workspace, user, key, source)."""
        worst = worst_case_cost(self.gateway, request)
        reservation = self.budgets.reserve(record.workspace_id, record.api_key_id, record.user_id,
                                           worst)
        return MeteredCall(self, request, record, reservation)


class MeteredCall:
    """One call between its reservation and its settlement; end it exactly once."""

    def __init__(self, meter: ModelCallMeter, request: ChatRequest, record: UsageRecord,
                 reservation: Reservation):
        self.meter = meter
        self.request = request
        self.record = record
        self.reservation = reservation
        self.started = time.perf_counter()
        self.ended = False

    def succeeded(self, result: ChatResult) -> None:
        self._end(replace(
            self.record, model=result.model, provider=result.provider,
            prompt_tokens=result.usage.prompt_tokens,
            completion_tokens=result.usage.completion_tokens, cost_usd=result.usage.cost_usd,
            latency_ms=result.latency_ms, ttft_ms=result.ttft_ms,
            fallback_from=self.record.model if result.fallback_used else None))

    def failed(self, error: DomainError, usage: Usage | None = None) -> None:
        """The provider answered with an error (nothing billed), or `usage` says what the failed
        call cost anyway (a reply refused at the size cap)."""
        self._end(self._measured(usage or Usage(), "error", error.code))

    def cut_short(self, content: str, status: str = "error", error_code: str | None = None) -> Usage:
        """The call stopped after producing `content`: billed for the prompt and that text
        (counted and priced here: the provider reports usage only for finished replies)."""
        usage = estimate_usage(self.meter.gateway, self.request.model or "", self.request.messages,
                               content, self.request.credentials)
        self._end(self._measured(usage, status, error_code))
        return usage

    def abandon(self) -> None:
        """The provider was never called (the reply could not start): the reservation goes,
        no usage is recorded."""
        if not self.ended:
            self.ended = True
            self.meter.budgets.settle(self.reservation, 0.0, self.record.workspace_id)

    def _measured(self, usage: Usage, status: str, error_code: str | None) -> UsageRecord:
        return replace(self.record, status=status, error=error_code,
                       prompt_tokens=usage.prompt_tokens, completion_tokens=usage.completion_tokens,
                       cost_usd=usage.cost_usd,
                       latency_ms=round((time.perf_counter() - self.started) * 1000, 1))

    def _end(self, record: UsageRecord) -> None:
        if self.ended:
            return
        self.ended = True
        # the two writes go out together: the reply waits for one round trip, not two
        settled = self.meter.budgets.begin_settle(self.reservation, record.cost_usd,
                                                  record.workspace_id)
        self.meter.usage.record(record, durable=True)
        settled()
