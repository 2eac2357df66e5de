"""OpenAI's Responses API onto chat completions and back, with LiteLLM's own bridge
(litellm/responses/litellm_completion_transformation: the code `litellm.responses()` runs for
providers without a native Responses API). Only the shapes come from LiteLLM: the call itself
goes through the gateway (budgets, keys, fallbacks), so `litellm.responses()` is not used.

LiteLLM's Response object is completed with OpenAI's defaults where it leaves a field empty that
OpenAI always fills (`usage.*_details`, `truncation`, `parallel_tool_calls`, `text`...), so the
official SDK's types validate it.
"""
from __future__ import annotations

import os
import uuid
from collections.abc import Mapping
from functools import cache
from typing import Any

from entities.errors import ValidationFailed
from entities.llm import ChatResult
from use_cases.gateway.ports import ResponsesTranslation

# What the chat request built from a Responses request carries that is not a model parameter,
# or that ChatRequest / the gateway set themselves.
NOT_PARAMS = frozenset({"messages", "model", "stream", "stream_options", "metadata",
                        "custom_llm_provider", "extra_headers", "litellm_trace_id"})


@cache
def _bridge() -> Any:
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    from litellm.responses.litellm_completion_transformation.transformation import (
        LiteLLMCompletionResponsesConfig,
    )
    return LiteLLMCompletionResponsesConfig


def _plain(value: Any) -> Any:
    """LiteLLM's messages mix dicts and pydantic objects: plain JSON-able values only."""
    if hasattr(value, "model_dump"):
        value = value.model_dump(exclude_none=True)
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


def _clean_message(message: dict) -> dict:
    """A chat message as providers take it: tool calls without the streaming `index`."""
    calls = message.get("tool_calls")
    if calls:
        message = {**message, "tool_calls": [
            {k: v for k, v in call.items() if k != "index"} for call in calls]}
    return message


class LiteLLMResponsesTranslation(ResponsesTranslation):
    def to_messages(self, input: str | list[dict]) -> list[dict]:
        try:
            messages = _bridge().transform_responses_api_input_to_messages(
                input=input, responses_api_request={})
        except Exception as exc:  # LiteLLM's errors on a malformed item are its own types
            raise ValidationFailed("input could not be read as Responses API items",
                                   details={"input": [str(exc)[:300]]}) from exc
        return [_clean_message(_plain(message)) for message in messages]

    def to_chat_params(self, request: dict) -> dict:
        try:
            chat = _bridge().transform_responses_api_request_to_chat_completion_request(
                model=request.get("model") or "", input=[], responses_api_request=request)
        except Exception as exc:
            raise ValidationFailed("The request could not be mapped onto a chat completion",
                                   details={"tools": [str(exc)[:300]]}) from exc
        return {name: _plain(value) for name, value in chat.items()
                if name not in NOT_PARAMS and value is not None}

    def to_response(self, response_id: str, created_at: int, request: dict,
                    result: ChatResult | None, message_id: str | None = None) -> dict:
        """With `result` None: the response as it starts (`status: "in_progress"`, no output)."""
        message: dict[str, Any] = {"role": "assistant", "content": None}
        finish_reason = None
        usage = {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0}
        if result is not None:
            message["content"] = result.content if result.content or not result.tool_calls else None
            if result.tool_calls:
                message["tool_calls"] = result.tool_calls
            finish_reason = result.finish_reason or "stop"
            usage = {"prompt_tokens": result.usage.prompt_tokens,
                     "completion_tokens": result.usage.completion_tokens,
                     "total_tokens": result.usage.total_tokens}
        completion = {
            "id": response_id, "created": created_at, "object": "chat.completion",
            "model": result.model if result is not None else request.get("model") or "",
            "choices": [{"index": 0, "finish_reason": finish_reason, "message": message}]
            if result is not None else [],
            "usage": usage}
        response = _bridge().transform_chat_completion_response_to_responses_api_response(
            request_input=request.get("input") or "", responses_api_request=request,
            chat_completion_response=completion)
        body = response.model_dump(mode="json")
        return _with_openai_defaults(body, request, result is None, message_id)


def _with_openai_defaults(body: dict, request: dict, in_progress: bool,
                          message_id: str | None) -> dict:
    body.pop("cost", None)
    body.update({
        "parallel_tool_calls": request.get("parallel_tool_calls", True),
        "truncation": request.get("truncation") or "disabled",
        "temperature": request.get("temperature", 1.0),
        "top_p": request.get("top_p", 1.0),
        "store": request.get("store", True),
        "metadata": request.get("metadata") or {},
        "text": request.get("text") or {"format": {"type": "text"}},
        "background": False,
        "service_tier": request.get("service_tier") or "default",
        "prompt_cache_key": request.get("prompt_cache_key"),
        "safety_identifier": request.get("safety_identifier"),
    })
    body["tool_choice"] = body.get("tool_choice") or "auto"
    for item in body.get("output") or []:
        if item.get("type") == "message":
            item["id"] = message_id or f"msg_{uuid.uuid4().hex}"
            for part in item.get("content") or []:
                part.setdefault("annotations", [])
                part.setdefault("logprobs", [])
    if in_progress:
        body.update(status="in_progress", usage=None, output=[], incomplete_details=None)
        return body
    usage = body.get("usage") or {}
    usage.pop("cost", None)
    usage["input_tokens_details"] = {"cached_tokens": 0, "cache_write_tokens": 0, **{
        k: v for k, v in (usage.get("input_tokens_details") or {}).items() if v is not None}}
    usage["output_tokens_details"] = {"reasoning_tokens": 0, **{
        k: v for k, v in (usage.get("output_tokens_details") or {}).items() if v is not None}}
    body["usage"] = usage
    return body
