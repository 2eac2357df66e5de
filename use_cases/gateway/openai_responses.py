"""OpenAI's Responses API (`/v1/responses`) as chat completions through the one gateway.

A request becomes one chat completion of OpenAICompletions (so the same key and tenant rules,
budget hold and settlement, usage record, rate limit and fallbacks as `/v1/chat/completions`);
its answer becomes a Response object. With `store` (OpenAI's default: true) the response is kept
with the conversation it ends, in chat-completion messages, so a follow-up naming it in
`previous_response_id` continues that conversation on whichever worker serves it, and
`GET /v1/responses/{id}` returns it. OpenAI's rules: `instructions` apply to one response only
(a follow-up does not inherit them); a response belongs to its workspace (OpenAI's project).
"""
from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from entities.actor import Actor
from entities.errors import InvalidParameter, NotFound
from entities.llm import ChatRequest, ChatResult, StreamChunk
from entities.responses import StoredResponse
from use_cases.gateway.openai_compat import OpenAICompletions
from use_cases.gateway.ports import ResponseRepository, ResponsesTranslation

SOURCE = "openai_responses"
# Chat parameters that ChatRequest carries in its own fields.
OWN_FIELDS = frozenset({"temperature", "max_tokens"})
# Responses parameters that are chat-completion parameters of the same name and meaning.
SAME_NAME = ("service_tier", "prompt_cache_key", "safety_identifier", "top_logprobs")


def message_item_id(response_id: str) -> str:
    """The id of a response's one message output item (`msg_...`), the same in its stream
    events and in the stored Response."""
    return "msg_" + response_id.removeprefix("resp_")


def without_known_tool_calls(history: list[dict], new: list[dict]) -> list[dict]:
    """`new` minus assistant tool-call messages the history already has. LiteLLM's bridge
    rebuilds the call a `function_call_output` answers when its process has seen that call
    (a per-process cache), so the same input would read differently on each worker."""
    known = {call.get("id") for message in history if message.get("role") == "assistant"
             for call in message.get("tool_calls") or []}
    return [message for message in new
            if not (message.get("role") == "assistant" and message.get("tool_calls")
                    and not message.get("content")
                    and {call.get("id") for call in message["tool_calls"]} <= known)]


@dataclass
class ResponseCall:
    """One response being made: its id and start, and the conversation it continues."""

    id: str
    created_at: int  # Unix seconds
    workspace_id: str
    request: dict[str, Any]
    history: list[dict[str, Any]]  # earlier messages and this request's input, no instructions
    chat: ChatRequest


@dataclass
class ResponseDone:
    """The last item of a response stream: the finished Response object."""

    body: dict[str, Any]


class OpenAIResponses:
    def __init__(self, completions: OpenAICompletions, translation: ResponsesTranslation,
                 repository: ResponseRepository):
        self.completions = completions
        self.translation = translation
        self.repository = repository

    def complete(self, actor: Actor, workspace_id: str | None, call: ResponseCall) -> dict:
        """The Response object of a started call (OpenAICompletions.complete's errors: 404
        model, 402 budget, 502/504 provider...)."""
        result = self.completions.complete(actor, workspace_id, call.chat, source=SOURCE)
        return self._finish(actor, call, result)

    def start(self, actor: Actor, workspace_id: str | None, request: dict) -> ResponseCall:
        """Checks access, reads the previous response and builds the chat request of
        `request` (OpenAI's `POST /v1/responses` body, validated by the controller); nothing is
        called or stored yet. InvalidParameter (400) for an unknown `previous_response_id`."""
        workspace = self.completions.workspace(actor, workspace_id)
        history: list[dict[str, Any]] = []
        model = request.get("model")
        previous_id = request.get("previous_response_id")
        if previous_id:
            previous = self.repository.get(workspace, previous_id)
            if previous is None:
                raise InvalidParameter(f"Previous response with id '{previous_id}' not found.",
                                       "previous_response_id", "previous_response_not_found")
            history = list(previous.messages)
            model = model or previous.model
        history += without_known_tool_calls(history, self.translation.to_messages(request["input"]))
        instructions = request.get("instructions")
        system = [{"role": "system", "content": instructions}] if instructions else []
        params = self.translation.to_chat_params(request)
        params.update({name: request[name] for name in SAME_NAME if request.get(name) is not None})
        passed = self.completions.passed_params()
        chat = ChatRequest(
            messages=system + history, model=model, temperature=params.get("temperature"),
            max_tokens=params.get("max_tokens"),
            extra={name: value for name, value in params.items()
                   if name not in OWN_FIELDS and name in passed})
        return ResponseCall(id=f"resp_{uuid.uuid4().hex}", created_at=int(time.time()),
                            workspace_id=workspace, request=request, history=history, chat=chat)

    def in_progress(self, call: ResponseCall, model: str) -> dict:
        """The Response object as a stream announces it (`status: "in_progress"`)."""
        return self.translation.to_response(call.id, call.created_at,
                                            {**call.request, "model": model}, None)

    def stream(self, actor: Actor, workspace_id: str | None,
               call: ResponseCall) -> tuple[str, Iterator[StreamChunk | ResponseDone]]:
        """The model and the stream: text deltas, then (stored first, with `store`) the finished
        Response. Access, budget and the provider's first answer are settled before this
        returns, so a failure then is a plain error response."""
        model, chunks = self.completions.stream(actor, workspace_id, call.chat, source=SOURCE)
        return model, self._follow(actor, call, chunks)

    def _follow(self, actor: Actor, call: ResponseCall,
                chunks: Iterator[StreamChunk]) -> Iterator[StreamChunk | ResponseDone]:
        try:
            for chunk in chunks:
                if chunk.result is not None:
                    yield ResponseDone(self._finish(actor, call, chunk.result))
                elif chunk.delta:
                    yield chunk
        finally:
            close = getattr(chunks, "close", None)
            if close is not None:
                close()

    def retrieve(self, actor: Actor, workspace_id: str | None, response_id: str) -> dict:
        """A stored response of the caller's workspace, else NotFound (404)."""
        workspace = self.completions.workspace(actor, workspace_id)
        stored = self.repository.get(workspace, response_id)
        if stored is None:
            raise NotFound(f"No response found with id '{response_id}'.",
                           {"param": "response_id"})
        return stored.body

    def _finish(self, actor: Actor, call: ResponseCall, result: ChatResult) -> dict:
        body = self.translation.to_response(call.id, call.created_at, call.request, result,
                                            message_item_id(call.id))
        if call.request.get("store", True):
            answer: dict[str, Any] = {"role": "assistant",
                                      "content": result.content or None}
            if result.tool_calls:
                answer["tool_calls"] = result.tool_calls
            self.repository.add(StoredResponse(
                id=call.id, workspace_id=call.workspace_id, model=result.model,
                messages=[*call.history, answer], body=body, user_id=actor.user_id,
                api_key_id=actor.api_key_id, created_at=datetime.now(UTC)))
        return body
