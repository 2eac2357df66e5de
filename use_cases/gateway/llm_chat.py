"""Direct model calls (`/api/v1/llm`, the OpenAI-compatible `/v1` routes, workflow `llm` nodes).

Membership is checked and the budget reserved before any provider is called; every call,
answered or failed, leaves one usage record and settles its reservation (metered_call.py).
"""
from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from typing import Any

from entities.errors import DomainError, ReplyTooLarge, ValidationFailed
from entities.llm import (
    ChatRequest,
    ChatResult,
    EmbeddingRequest,
    EmbeddingResult,
    ModelInfo,
    StreamChunk,
    UsageRecord,
)
from use_cases.gateway.metered_call import MeteredCall, ModelCallMeter
from use_cases.gateway.ports import LLMGateway, ProviderCredentials

CHAT_ROLE = "member"
READ_ROLE = "viewer"


class LLMChat:
    def __init__(self, gateway: LLMGateway, credentials: ProviderCredentials, access: Any,
                 meter: ModelCallMeter):
        self.gateway = gateway
        self.credentials = credentials
        self.access = access  # WorkspaceAccess: require(user_id, workspace_id, minimum) -> membership
        self.meter = meter

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

    def embed(self, user_id: str, workspace_id: str | None, request: EmbeddingRequest,
              api_key_id: str | None = None, source: str = "openai_embeddings") -> EmbeddingResult:
        """Embeddings under the same rules as a chat call: member rights, the worst case (the
        texts at the input price) reserved first, one usage record, the hold settled."""
        if not request.input:
            raise ValidationFailed("input must not be empty",
                                   details={"input": ["At least one text is required."]})
        membership = self.access.require(user_id, workspace_id, CHAT_ROLE)
        workspace = membership.workspace_id
        credentials = self.credentials.for_workspace(workspace)
        # The hold prices the texts as a prompt with one output token (embedding models have
        # no output price): the meter's one estimate, for every kind of call.
        priced = ChatRequest(messages=[{"role": "user", "content": text} for text in request.input],
                             model=request.model, max_tokens=1, credentials=credentials)
        record = UsageRecord(workspace_id=workspace, user_id=user_id, model=request.model,
                             provider=request.model.split("/", 1)[0], status="success",
                             source=source, api_key_id=api_key_id)
        call = self.meter.start(priced, record)
        try:
            result = self.gateway.embed(replace(request, credentials=credentials))
        except DomainError as exc:
            call.failed(exc)
            raise
        call.succeeded(ChatResult(id="", model=result.model, provider=result.provider,
                                  content="", usage=result.usage, latency_ms=result.latency_ms))
        return result

    def _follow(self, call: MeteredCall, chunks: Iterator[StreamChunk]) -> Iterator[StreamChunk]:
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
            call.cut_short("".join(produced), error_code=exc.code)
            raise
        finally:
            if not finished:  # the consumer stopped reading before the end
                call.cut_short("".join(produced), error_code="cancelled")

    def _start(self, user_id: str, workspace_id: str | None, request: ChatRequest,
               api_key_id: str | None, source: str) -> MeteredCall:
        if not request.messages:
            raise ValidationFailed("messages must not be empty",
                                   details={"messages": ["At least one message is required."]})
        membership = self.access.require(user_id, workspace_id, CHAT_ROLE)
        workspace = membership.workspace_id
        credentials = self.credentials.for_workspace(workspace)
        model = request.model or self.gateway.default_model(credentials)
        call_request = replace(request, model=model, credentials=credentials)
        record = UsageRecord(workspace_id=workspace, user_id=user_id, model=model,
                             provider=model.split("/", 1)[0], status="success", source=source,
                             api_key_id=api_key_id)
        return self.meter.start(call_request, record)

