"""/v1/completions: OpenAI's legacy text completions, as one chat completion each.

The prompt becomes the one user message (what `litellm.text_completion` does for chat
models); the reply's text is the completion. Same authentication, rate limit, budgets, usage
and errors as `/v1/chat/completions`. OpenAI's legacy-only features that a chat model cannot
honour (`suffix`, `echo`, `best_of` above 1, `logprobs`) are refused with 400 naming them.
"""
from __future__ import annotations

import json
import logging
import time
import uuid
from collections.abc import Iterator

from flask import Response

from controllers.blueprint import Blueprint
from controllers.deferred_limits import limit_llm_deferred
from controllers.deps import use_cases
from controllers.errors import status_for
from controllers.idempotency import claim, idempotent
from controllers.openai import (
    STREAM_HEADERS,
    documented_errors,
    key_or_token,
    session_watch,
    stream_error,
    workspace_header,
)
from controllers.rate_limits import limiter
from controllers.schemas.common import SSE_EVENT_SCHEMA
from controllers.schemas.openai import (
    DEFAULT_COMPLETION_TOKENS,
    CompletionRequestSchema,
    CompletionSchema,
)
from controllers.security import current_actor
from entities.errors import DomainError, InvalidParameter
from entities.idempotency import StoredResponse
from entities.llm import ChatRequest, ChatResult, StreamChunk
from use_cases.identity.revocation import Watch
from use_cases.shared.idempotency import Claim

log = logging.getLogger("synapscale.openai")

blp = Blueprint("openai_completions", __name__, url_prefix="/v1",
                description="OpenAI's legacy completions, answered by chat models")

UNSUPPORTED = {"suffix": None, "echo": False, "best_of": 1, "logprobs": None}


DECLARED = frozenset(CompletionRequestSchema().fields)
PASSED = ("top_p", "presence_penalty", "frequency_penalty", "logit_bias", "seed", "user")


COMPLETION_STREAM = "text_completion_stream"  # an idempotent stream's kept answer


def replay_stream(stored: StoredResponse) -> Response:
    """A repeated streamed completion (the same Idempotency-Key): the first one's chunks again
    (its text as one chunk), from its kept completion, without calling the model."""
    kept = stored.body

    def data(payload: dict) -> str:
        return f"data: {json.dumps({**kept['base'], **payload})}\n\n"

    finish = {"text": "", "index": 0, "logprobs": None, "finish_reason": kept["finish_reason"]}
    chunks = [data({"choices": [choice(kept["text"], None)]})] if kept["text"] else []
    chunks.append(data({"choices": [finish]}))
    if kept["usage"] is not None:
        chunks.append(data({"choices": [], "usage": kept["usage"]}))
    chunks.append("data: [DONE]\n\n")
    return Response(iter(chunks), mimetype="text/event-stream", headers=STREAM_HEADERS)


@blp.post("/completions")
@limiter.exempt
@limit_llm_deferred
@key_or_token
@blp.arguments(CompletionRequestSchema)
@idempotent(replay=replay_stream)
@blp.response(200, CompletionSchema)
@blp.alt_response(200, description="With `stream: true`: `data: {text_completion}` events, "
                  "then `data: [DONE]`", schema=SSE_EVENT_SCHEMA,
                  content_type="text/event-stream", success=True)
@documented_errors
def create_completion(body):
    """Create a completion (OpenAI-compatible, legacy)

    OpenAI's legacy `POST /v1/completions`, answered by a chat model: `prompt` (one string)
    becomes the user message, the reply is `choices[0].text`. `max_tokens` defaults to 16 as
    OpenAI's does. `temperature`, `top_p`, `stop`, `presence_penalty`, `frequency_penalty`,
    `logit_bias`, `seed`, `user` are passed on; `n` must be 1; `suffix`, `echo`, `best_of`
    above 1 and `logprobs` are refused (400, named in `param`), as is any unknown field. With
    `"stream": true`: `data: {text_completion}` chunks then `data: [DONE]` (with
    `stream_options.include_usage`, a last chunk with `usage` and no choices).

    Errors as POST /v1/chat/completions (OpenAI's shape)."""
    for name in body:
        if name not in DECLARED:
            raise InvalidParameter(f"Unrecognized request argument supplied: {name}", name,
                                   "unknown_parameter")
    for name, allowed in UNSUPPORTED.items():
        if body.get(name) not in (None, allowed):
            raise InvalidParameter(f"{name} is not supported: the completion comes from a "
                                   "chat model", name, "unsupported_parameter")
    if body.get("n") not in (None, 1):
        raise InvalidParameter("Only n=1 is supported", "n", "unsupported_parameter")
    prompt = body["prompt"] if isinstance(body["prompt"], str) else body["prompt"][0]
    stop = body.get("stop")
    chat_request = ChatRequest(
        messages=[{"role": "user", "content": prompt}], model=body.get("model"),
        temperature=body.get("temperature"),
        max_tokens=body.get("max_tokens") or DEFAULT_COMPLETION_TOKENS,
        stop=[stop] if isinstance(stop, str) else stop,
        extra={name: body[name] for name in PASSED if body.get(name) is not None})
    container = use_cases()
    actor, workspace_id = current_actor(), workspace_header()
    if body.get("stream"):
        model, chunks = container.openai.stream(actor, workspace_id, chat_request)
        include_usage = bool((body.get("stream_options") or {}).get("include_usage"))
        return Response(completion_chunks(chunks, model, include_usage, claim(),
                                          session_watch(workspace_id)),
                        mimetype="text/event-stream", headers=STREAM_HEADERS)
    result = container.openai.complete(actor, workspace_id, chat_request)
    return {**envelope(result.model), "choices": [choice(result.content, result)],
            "usage": usage(result)}


def envelope(model: str) -> dict:
    return {"id": f"cmpl-{uuid.uuid4().hex}", "object": "text_completion",
            "created": int(time.time()), "model": model}


def choice(text: str, result: ChatResult | None) -> dict:
    finish = (result.finish_reason or "stop") if result is not None else None
    return {"text": text, "index": 0, "logprobs": None,
            "finish_reason": "stop" if finish == "tool_calls" else finish}


def usage(result: ChatResult) -> dict:
    return {"prompt_tokens": result.usage.prompt_tokens,
            "completion_tokens": result.usage.completion_tokens,
            "total_tokens": result.usage.total_tokens}


def completion_chunks(chunks: Iterator[StreamChunk], model: str, include_usage: bool,
                      held: Claim | None = None, watch: Watch | None = None) -> Iterator[str]:
    """Text-completion chunks sharing one id; closing this (the client went away) closes the
    model call, billed as cancelled, and so does the end of the caller's session (`watch`),
    after an error chunk `token_revoked`, as on /v1/chat/completions. `held`: the request's
    claim on its Idempotency-Key, which keeps the finished completion for repeats."""
    base = envelope(model)
    text: list[str] = []

    def data(payload: dict) -> str:
        return f"data: {json.dumps({**base, **payload})}\n\n"

    try:
        for chunk in chunks:
            if watch is not None and not watch.live():
                yield stream_error(401, "token_revoked", "The session has ended")
                return
            if chunk.delta:
                text.append(chunk.delta)
                yield data({"choices": [choice(chunk.delta, None)]})
            if chunk.result is not None:
                base["model"] = chunk.result.model
                last = choice("", chunk.result)
                if held is not None:  # a repeat gets this completion, never a second call
                    held.finish(StoredResponse(200, {
                        "base": base, "text": "".join(text),
                        "finish_reason": last["finish_reason"],
                        "usage": usage(chunk.result) if include_usage else None},
                        COMPLETION_STREAM))
                yield data({"choices": [last]})
                if include_usage:
                    yield data({"choices": [], "usage": usage(chunk.result)})
                yield "data: [DONE]\n\n"
    except DomainError as error:
        yield stream_error(status_for(error), error.code, error.message)
    except Exception:
        log.exception("completion stream failed")
        yield stream_error(500, "internal_error", "Internal server error")
    finally:
        close = getattr(chunks, "close", None)
        if close is not None:
            close()
        if watch is not None:
            watch.close()
