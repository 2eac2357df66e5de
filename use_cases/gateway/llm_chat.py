"""Direct model calls (`/api/v1/llm`, and the OpenAI-compatible `/v1` routes).

Membership and budget are checked before any provider is called; every call, answered or
failed, leaves a usage record.
"""
from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from typing import Any

from entities.errors import DomainError, ReplyTooLarge, ValidationFailed
from entities.llm import ChatRequest, ChatResult, ModelInfo, StreamChunk, Usage, UsageRecord
from use_cases.gateway.estimates import estimate_usage
from use_cases.gateway.ports import LLMGateway, ProviderCredentials
from use_cases.gateway.usage_recorder import UsageRecorder

BudgetGuard = Callable[[str, "str | None"], None]  # check(workspace_id, api_key_id); raises BudgetExceeded
CHAT_ROLE = "member"
READ_ROLE = "viewer"


class LLMChat:
    def __init__(self, gateway: LLMGateway, credentials: ProviderCredentials, access: Any,
                 usage: UsageRecorder, budget_guard: BudgetGuard):
        self.gateway = gateway
        self.credentials = credentials
        self.access = access  # WorkspaceAccess: require(user_id, workspace_id, minimum) -> membership
        self.usage = usage
        self.budget_guard = budget_guard

    def models(self, user_id: str, workspace_id: str | None) -> list[ModelInfo]:
        membership = self.access.require(user_id, workspace_id, READ_ROLE)
        return self.gateway.models(self.credentials.for_workspace(membership.workspace_id))

    def chat(self, user_id: str, workspace_id: str | None, request: ChatRequest,
             api_key_id: str | None = None, source: str = "llm_chat") -> ChatResult:
        call = self._start(user_id, workspace_id, request, api_key_id, source)
        try:
            result = self.gateway.complete(call.request)
        except ReplyTooLarge as exc:  # refused, but the provider was paid
            call.failed(exc, exc.usage)
            raise
        except DomainError as exc:
            call.failed(exc)
            raise
        call.succeeded(result)
        return result

    def chat_stream(self, user_id: str, workspace_id: str | None, request: ChatRequest,
                    api_key_id: str | None = None, source: str = "llm_chat") -> Iterator[StreamChunk]:
        """Access, budget and the provider's first answer are settled before this returns; a
        failure then raises here, so the caller can still send a plain error response."""
        call = self._start(user_id, workspace_id, request, api_key_id, source)
        try:
            chunks = self.gateway.stream(call.request)
        except DomainError as exc:
            call.failed(exc)
            raise
        return self._follow(call, chunks)

    def _follow(self, call: _Call, chunks: Iterator[StreamChunk]) -> Iterator[StreamChunk]:
        """Passes the stream on; a stream that ends early (the consumer went away, the provider
        failed midway, the reply hit the size cap) is billed for the prompt and the text
        produced until then."""
        finished = False
        produced: list[str] = []
        try:
            for chunk in chunks:
                if chunk.result is not None:
                    finished = True
                    call.succeeded(chunk.result)
                produced.append(chunk.delta)
                yield chunk
        except DomainError as exc:
            finished = True
            call.failed(exc, self._partial_usage(call, "".join(produced)))
            raise
        finally:
            if not finished:  # the consumer stopped reading before the end
                call.failed(None, self._partial_usage(call, "".join(produced)))

    def _partial_usage(self, call: _Call, content: str) -> Usage:
        request = call.request
        return estimate_usage(self.gateway, request.model or "", request.messages, content,
                              request.credentials)

    def _start(self, user_id: str, workspace_id: str | None, request: ChatRequest,
               api_key_id: str | None, source: str) -> _Call:
        if not request.messages:
            raise ValidationFailed("messages must not be empty",
                                   details={"messages": ["At least one message is required."]})
        membership = self.access.require(user_id, workspace_id, CHAT_ROLE)
        workspace = membership.workspace_id
        self.budget_guard(workspace, api_key_id)
        credentials = self.credentials.for_workspace(workspace)
        model = request.model or self.gateway.default_model(credentials)
        call_request = replace(request, model=model, credentials=credentials)
        record = UsageRecord(workspace_id=workspace, user_id=user_id, model=model,
                             provider=model.split("/", 1)[0], status="success", source=source,
                             api_key_id=api_key_id)
        return _Call(self.usage, call_request, record)


class _Call:
    """One model call being measured: becomes exactly one usage record."""

    def __init__(self, usage: UsageRecorder, request: ChatRequest, record: UsageRecord):
        self.usage = usage
        self.request = request
        self.record = record
        self.started = time.perf_counter()

    def succeeded(self, result: ChatResult) -> None:
        self.usage.record(replace(
            self.record, model=result.model, provider=result.provider,
            prompt_tokens=result.usage.prompt_tokens,
            completion_tokens=result.usage.completion_tokens, cost_usd=result.usage.cost_usd,
            latency_ms=result.latency_ms, ttft_ms=result.ttft_ms))

    def failed(self, error: DomainError | None, usage: Usage | None = None) -> None:
        """`error` None: the caller went away mid-stream. `usage`: what the call cost anyway
        (a stream that ended early); None before the provider answered."""
        usage = usage or Usage()
        self.usage.record(replace(
            self.record, status="error", error=error.code if error else "cancelled",
            prompt_tokens=usage.prompt_tokens, completion_tokens=usage.completion_tokens,
            cost_usd=usage.cost_usd, latency_ms=round((time.perf_counter() - self.started) * 1000, 1)))
