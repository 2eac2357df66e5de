"""/v1: the OpenAI-compatible routes, so any OpenAI SDK or chat UI can use the gateway.

Authenticated by a workspace API key (`Bearer sk-syn-...`: the key's workspace, member rights)
or a user's access token (the workspace in `X-Workspace-ID`, else the personal one). Errors have
OpenAI's shape (controllers/errors.py switches on the /v1/ prefix). Model calls share the
per-user (or per-key) RATELIMIT_LLM budget with every other route that calls a model, counted
without a database round trip (controllers/deferred_limits.py).
"""
from __future__ import annotations

import json
import logging
import time
import uuid
from collections.abc import Callable, Iterator
from functools import wraps
from typing import Any

from flask import Response, g, request

from controllers.blueprint import Blueprint
from controllers.deferred_limits import limit_llm_deferred
from controllers.deps import use_cases
from controllers.errors import OPENAI_TYPE_BY_STATUS, status_for
from controllers.idempotency import claim, idempotent
from controllers.metrics import request_started
from controllers.openapi import KEY_OR_BEARER
from controllers.rate_limits import limiter, round_charger, user_or_ip
from controllers.schemas.common import SSE_EVENT_SCHEMA
from controllers.schemas.openai import (
    ChatCompletionRequestSchema,
    ChatCompletionSchema,
    ModelListSchema,
    ModelSchema,
    OpenAIErrorSchema,
)
from controllers.security import authenticated, current_actor
from controllers.sse import watch_caller
from entities.errors import DomainError, InvalidParameter
from entities.idempotency import StoredResponse
from entities.llm import ChatRequest, ChatResult, StreamChunk
from entities.workspace import WorkspaceRole
from use_cases.agents.runtime import model_agent_id
from use_cases.gateway.api_keys import is_api_key
from use_cases.identity.revocation import Watch

log = logging.getLogger("synapscale.openai")

blp = Blueprint("openai", __name__, url_prefix="/v1",
                description="OpenAI-compatible API: chat completions and models for any OpenAI "
                            "SDK or chat UI, with a workspace API key or a user access token")

WORKSPACE_HEADER = "X-Workspace-ID"
DECLARED = frozenset(ChatCompletionRequestSchema().fields)
WORKSPACE_PARAMETER = {"in": "header", "name": WORKSPACE_HEADER, "required": False,
                       "schema": {"type": "string"},
                       "description": "With a user token: the workspace to act in (default: "
                                      "personal). With an API key: omit (a key acts in its own)"}
MODELS_CREATED = 1_735_689_600  # 2025-01-01: catalogue models carry no date of their own
STREAM_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
COMPLETION_STREAM = "chat_completion_stream"  # an idempotent stream's kept answer
ERRORS = ((400, "An unknown or unsupported parameter (n other than 1), named in `param`"),
          (401, "Missing, invalid, expired or revoked key or token"),
          (402, "Workspace or API-key budget spent this month"),
          (404, "Workspace not found, or an unknown model (`model_not_found`)"),
          (422, "An invalid field value, named in `param`"),
          (429, "Rate limited"), (502, "The provider failed after fallbacks"),
          (504, "The provider timed out"))


def key_or_token(fn):
    """`Bearer sk-syn-...` (a workspace API key, verified through a short cache) or a user's
    access token (`authenticated`)."""
    by_token = authenticated(fn)

    @wraps(fn)
    def wrapper(*args, **kwargs):
        scheme, _, secret = request.headers.get("Authorization", "").partition(" ")
        secret = secret.strip()
        if scheme.lower() != "bearer" or not is_api_key(secret):
            return by_token(*args, **kwargs)
        g.actor = use_cases().api_keys.authenticate(secret, request.remote_addr)
        g.user_id = g.actor.user_id
        return fn(*args, **kwargs)

    docs = by_token._apidoc
    wrapper._apidoc = {**docs, "manual_doc": {**docs.get("manual_doc", {}),
                                              "security": KEY_OR_BEARER}}
    return wrapper


def documented_errors(fn):
    """OpenAI-shaped errors, and the X-Workspace-ID header, in the OpenAPI document."""
    for status, description in ERRORS:
        fn = blp.alt_response(status, schema=OpenAIErrorSchema, description=description)(fn)
    return blp.doc(parameters=[WORKSPACE_PARAMETER])(fn)


def workspace_header() -> str | None:
    return request.headers.get(WORKSPACE_HEADER) or None


def session_watch(workspace_id: str | None) -> Watch | None:
    """For a stream called with a user's token: a watch that ends it with the session or the
    caller's membership of `workspace_id`. None for an API key (revoked keys fail their next
    call; a stream already authorised runs to its end)."""
    actor = current_actor()
    if not actor.session_id:
        return None
    access = use_cases().access
    return watch_caller(allowed=lambda: access.require(actor.user_id, workspace_id,
                                                      WorkspaceRole.MEMBER))


@blp.get("/models")
@key_or_token
@blp.response(200, ModelListSchema)
@documented_errors
def list_models():
    """List models (OpenAI-compatible)

    The models a call can use now in the workspace (credentials or a local runtime exist). 200
    `{object: "list", data: [{id, object: "model", created, owned_by}]}`.

    Authenticate with a workspace API key (`Bearer sk-syn-...`) or a user access token
    (`X-Workspace-ID` then picks the workspace). Errors have OpenAI's shape `{error: {message, type,
    code}}`: 401 for a bad key or token, 404 for a workspace the caller is not in."""
    models = use_cases().openai.models(current_actor(), workspace_header())
    return {"object": "list", "data": [model_body(m) for m in models]}


@blp.get("/models/<path:model>")
@key_or_token
@blp.response(200, ModelSchema)
@documented_errors
def retrieve_model(model: str):
    """Retrieve a model (OpenAI-compatible)

    One model of GET /v1/models (ids contain a slash: `openai/gpt-4o-mini`). 200 `{id, object:
    "model", created, owned_by}`; 404 `model_not_found` for a model the workspace cannot use."""
    found = use_cases().openai.model(current_actor(), workspace_header(), model)
    return model_body(found)


def model_body(model) -> dict:
    return {"id": model.id, "object": "model", "created": MODELS_CREATED, "owned_by": model.provider}


def replay_stream(stored: StoredResponse) -> Response:
    """A repeated streamed completion (the same Idempotency-Key): the first one's chunks again,
    from its kept completion, without calling the model."""
    completion, include_usage = stored.body["completion"], stored.body["include_usage"]
    base = {key: completion[key] for key in ("id", "object", "created", "model")}
    base["object"] = "chat.completion.chunk"
    choice = completion["choices"][0]

    def chunk(choices: list, **extra) -> str:
        return f"data: {json.dumps({**base, 'choices': choices, **extra})}\n\n"

    def delta(content: dict, finish_reason: str | None = None) -> str:
        return chunk([{"index": 0, "delta": content, "logprobs": None,
                       "finish_reason": finish_reason}])

    message = choice["message"]
    chunks = [delta({"role": "assistant", "content": ""})]
    if message.get("content"):
        chunks.append(delta({"content": message["content"]}))
    if message.get("tool_calls"):
        chunks.append(delta({"tool_calls": [{"index": i, **call} for i, call
                                            in enumerate(message["tool_calls"])]}))
    chunks.append(delta({}, choice["finish_reason"]))
    if include_usage:
        chunks.append(chunk([], usage=completion["usage"]))
    chunks.append("data: [DONE]\n\n")
    return Response(iter(chunks), mimetype="text/event-stream", headers=STREAM_HEADERS)


@blp.post("/chat/completions")
@limiter.exempt
@limit_llm_deferred
@key_or_token
@blp.arguments(ChatCompletionRequestSchema)
@idempotent(replay=replay_stream)
@blp.response(200, ChatCompletionSchema)
@blp.alt_response(200, description="With `stream: true`: `data: {chunk}` events, then "
                  "`data: [DONE]`", schema=SSE_EVENT_SCHEMA, content_type="text/event-stream",
                  success=True)
@documented_errors
def chat_completions(body):
    """Create a chat completion (OpenAI-compatible)

    OpenAI's chat completion. With `"stream": true` the response is `text/event-stream`:
    `data: {chat.completion.chunk}` lines, then `data: [DONE]`; with
    `stream_options.include_usage` a last chunk carries `usage` and no choices. An error after
    the stream started arrives as `data: {"error": {...}}`. `temperature`, `max_tokens`
    (or `max_completion_tokens`), `stop`, `response_format`, `tools`, `tool_choice` and every
    other chat-completion parameter LiteLLM knows (`service_tier`, `prompt_cache_key`,
    `safety_identifier`, `modalities`, `prediction`, `web_search_options`, `verbosity`,
    `functions`/`function_call`, `top_k` from an SDK's `extra_body`...) reach providers that
    support them (others drop them); `n` must be 1. Header `X-Workspace-ID` picks the workspace for
    a user token (default: personal); a key always works in its own workspace. With an
    `Idempotency-Key` header (or `client_message_id`), a repeat within 24 h gets the first
    completion (streamed: its chunks again) without calling the model; the same key with another
    body is 409 `idempotency_conflict`.

    Errors have OpenAI's shape `{error: {message, type, code, param}}`: 400 for an unknown
    parameter or `n` other than 1, 401 for a bad key or token, 402 when a budget is spent, 404
    for a workspace the caller is not in or an unknown model (`model_not_found`), 422 for an
    invalid field value (`param` names the field), 429 over RATELIMIT_LLM, 502 when the provider
    failed after fallbacks, 504 when it timed out."""
    container = use_cases()
    passed = container.openai.passed_params()
    for name in body:
        if name not in DECLARED and name not in passed:
            raise InvalidParameter(f"Unrecognized request argument supplied: {name}", name,
                                   "unknown_parameter")
    if body.get("n") not in (None, 1):
        raise InvalidParameter("Only n=1 is supported", "n", "unsupported_parameter")
    chat_request = to_chat_request(body, passed)
    actor, workspace_id = current_actor(), workspace_header()
    agent_id = model_agent_id(chat_request.model)
    if agent_id is not None:
        return agent_completion(body, actor, workspace_id, agent_id, chat_request)
    if body.get("stream"):
        model, chunks = container.openai.stream(actor, workspace_id, chat_request)
        include_usage = bool((body.get("stream_options") or {}).get("include_usage"))
        watch = session_watch(workspace_id)
        held = claim()
        on_result = None
        if held is not None:  # a repeat gets this completion, never a second call
            def on_result(completion: dict) -> None:
                held.finish(StoredResponse(200, {"completion": completion,
                                                 "include_usage": include_usage},
                                           COMPLETION_STREAM))
        events = stream_events(chunks, model, include_usage, container.metrics, request_started(),
                               watch, on_result)
        return Response(events, mimetype="text/event-stream", headers=STREAM_HEADERS)
    result = container.openai.complete(actor, workspace_id, chat_request)
    container.metrics.gateway_overhead(
        "openai", False, time.perf_counter() - request_started() - result.latency_ms / 1000)
    return completion_body(result)


def agent_completion(body: dict, actor, workspace_id: str | None, agent_id: str,
                     chat_request: ChatRequest):
    """`model: "agent/<id>"`: the agent answers (its tools run here); every round after the
    first counts against RATELIMIT_LLM like a call of its own. Streamed, the tools run before
    the first chunk and the answer comes as one delta."""
    container = use_cases()
    charge = round_charger(user_or_ip())
    if body.get("stream"):
        chunks = container.agent_runtime.openai_stream(actor, workspace_id, agent_id,
                                                       chat_request, charge)
        include_usage = bool((body.get("stream_options") or {}).get("include_usage"))
        return Response(stream_events(chunks, f"agent/{agent_id}", include_usage,
                                      container.metrics, request_started(),
                                      session_watch(workspace_id), None),
                        mimetype="text/event-stream", headers=STREAM_HEADERS)
    return completion_body(container.agent_runtime.openai_complete(
        actor, workspace_id, agent_id, chat_request, charge))


def to_chat_request(body: dict, passed: frozenset[str]) -> ChatRequest:
    stop = body.get("stop")
    return ChatRequest(
        messages=body["messages"], model=body.get("model"),
        temperature=body.get("temperature"),
        max_tokens=body.get("max_completion_tokens") or body.get("max_tokens"),
        stop=[stop] if isinstance(stop, str) else stop,
        extra={name: value for name, value in body.items()
               if name in passed and value is not None})


def completion_body(result: ChatResult) -> dict:
    message: dict[str, Any] = {"role": "assistant", "content": result.content}
    if result.tool_calls:
        message["tool_calls"] = result.tool_calls
        message["content"] = result.content or None
    return {
        "id": completion_id(), "object": "chat.completion", "created": int(time.time()),
        "model": result.model,
        "choices": [{"index": 0, "message": message, "logprobs": None,
                     "finish_reason": result.finish_reason or "stop"}],
        "usage": usage_body(result),
        "system_fingerprint": None,
    }


def completion_id() -> str:
    """A new id per response (every chunk of one stream shares it), never the provider's:
    providers repeat theirs."""
    return f"chatcmpl-{uuid.uuid4().hex}"


def usage_body(result: ChatResult) -> dict:
    return {"prompt_tokens": result.usage.prompt_tokens,
            "completion_tokens": result.usage.completion_tokens,
            "total_tokens": result.usage.total_tokens}


def stream_events(chunks: Iterator[StreamChunk], model: str, include_usage: bool,
                  metrics, started: float, watch: Watch | None = None,
                  on_result: Callable[[dict], None] | None = None) -> Iterator[str]:
    """OpenAI's chunk stream. Closing it (the client went away) closes the model call, which
    records it as cancelled; so does the end of the caller's session (`watch`), after an error
    chunk with code `token_revoked`. `on_result` gets the whole completion (as without
    streaming, with the stream's id) before its last chunks are sent."""
    base = {"id": completion_id(), "object": "chat.completion.chunk",
            "created": int(time.time()), "model": model}

    def event(choices: list, **extra) -> str:
        return f"data: {json.dumps({**base, 'choices': choices, **extra})}\n\n"

    def delta(content: dict, finish_reason: str | None = None) -> str:
        return event([{"index": 0, "delta": content, "logprobs": None,
                       "finish_reason": finish_reason}])

    try:
        yield delta({"role": "assistant", "content": ""})
        result = None
        for chunk in chunks:
            if watch is not None and not watch.live():
                yield stream_error(401, "token_revoked", "The session has ended")
                return
            if chunk.delta:
                yield delta({"content": chunk.delta})
            if chunk.result is not None:
                result = chunk.result
        if result is None:
            return
        base["model"] = result.model
        if on_result is not None:
            on_result({**completion_body(result), "id": base["id"], "created": base["created"]})
        if result.tool_calls:
            yield delta({"tool_calls": [{"index": i, **call}
                                        for i, call in enumerate(result.tool_calls)]})
        yield delta({}, result.finish_reason or "stop")
        if include_usage:
            yield event([], usage=usage_body(result))
        yield "data: [DONE]\n\n"
        metrics.gateway_overhead("openai", True,
                                 time.perf_counter() - started - result.latency_ms / 1000)
    except DomainError as error:
        yield stream_error(status_for(error), error.code, error.message)
    except Exception:
        log.exception("chat completion stream failed")
        yield stream_error(500, "internal_error", "Internal server error")
    finally:
        close = getattr(chunks, "close", None)
        if close is not None:
            close()
        if watch is not None:
            watch.close()


def stream_error(status: int, code: str, message: str) -> str:
    body = {"error": {"message": message, "type": OPENAI_TYPE_BY_STATUS.get(status, "api_error"),
                      "code": code, "param": None}}
    return f"data: {json.dumps(body)}\n\n"
