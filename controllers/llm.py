"""/api/v1/llm: the model catalogue and direct model calls (no talk is stored)."""
from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable, Iterator

from flask import Response

from controllers.blueprint import Blueprint
from controllers.deps import use_cases
from controllers.idempotency import claim, idempotent
from controllers.metrics import request_started
from controllers.rate_limits import limit_llm
from controllers.schemas.common import SSE_EVENT_SCHEMA
from controllers.schemas.llm import (
    LLMChatRequestSchema,
    LLMChatResultSchema,
    ModelInfoSchema,
    ModelsQuerySchema,
)
from controllers.security import authenticated, current_actor
from controllers.sse import (
    EVENT_STREAM,
    RETRY,
    feed_frames,
    keepalive_seconds,
    last_event_id,
    sse_frame,
    sse_response,
    wants_stream,
    watch_caller,
)
from entities.errors import DomainError
from entities.idempotency import StoredResponse
from entities.llm import ChatRequest, ChatResult, StreamChunk
from entities.workspace import WorkspaceRole
from use_cases.chat.generations import Feed, StreamEvent

log = logging.getLogger(__name__)

blp = Blueprint("llm", __name__, url_prefix="/api/v1/llm",
                description="The model catalogue and direct model calls")

STREAM_DESCRIPTION = (
    "With `stream: true` or `Accept: text/event-stream`: `retry: 3000`, then SSE events `start` "
    "`{model}`, `delta` `{content}` (many), then `done` (the result, as without streaming) or "
    "`error` `{code, message}`, each with `id: <seq>` (0 for `start`, one per delta, then the "
    "end); keep-alive comments at least every 15 s.")
LLM_STREAM = "llm_chat_stream"  # an idempotent streamed call's kept answer: its result


def result_body(result: ChatResult) -> dict:
    return {
        "id": result.id, "model": result.model,
        "message": {"role": "assistant", "content": result.content},
        "usage": {"prompt_tokens": result.usage.prompt_tokens,
                  "completion_tokens": result.usage.completion_tokens,
                  "total_tokens": result.usage.total_tokens, "cost_usd": result.usage.cost_usd},
        "latency_ms": result.latency_ms, "fallback_used": result.fallback_used,
    }


class ChunkFeed(Feed):
    """A model's chunks read on a thread, so the event stream can send keep-alives while the
    model is quiet. Closing the feed (the client left) stops reading, which ends the call.
    Events are numbered as a talk's reply (`start` 0, deltas 1.., then the end); `on_done` gets
    the result's body and where each delta ends in its text before `done` is sent."""

    def __init__(self, chunks: Iterator[StreamChunk], model: str | None,
                 on_done: Callable[[dict, list[int]], None] | None = None):
        self.events: queue.Queue[StreamEvent] = queue.Queue()
        self.closed = threading.Event()
        self.on_done = on_done
        self.seq = 0
        self.events.put(StreamEvent("start", {"model": model}, 0))
        threading.Thread(target=self._pump, args=(chunks,), name="llm-stream", daemon=True).start()

    def _put(self, name: str, data: dict) -> None:
        self.seq += 1
        self.events.put(StreamEvent(name, data, self.seq))

    def _pump(self, chunks: Iterator[StreamChunk]) -> None:
        ended = False
        ends: list[int] = []
        try:
            for chunk in chunks:
                if self.closed.is_set():
                    return
                if chunk.delta:
                    ends.append((ends[-1] if ends else 0) + len(chunk.delta))
                    self._put("delta", {"content": chunk.delta})
                if chunk.result is not None:
                    body = result_body(chunk.result)
                    if self.on_done is not None:
                        self.on_done(body, ends)
                    self._put("done", body)
                    ended = True
        except DomainError as error:
            self._put("error", {"code": error.code, "message": error.message})
            ended = True
        except Exception:
            log.exception("a model stream failed")
        finally:
            close = getattr(chunks, "close", None)
            if close is not None:
                close()
        if not ended:
            self._put("error", {"code": "upstream_error", "message": "The model provider failed"})

    def next(self, timeout: float) -> StreamEvent | None:
        try:
            event = self.events.get(timeout=timeout)
        except queue.Empty:
            return None
        self.ended = event.is_terminal
        return event

    def close(self) -> None:
        self.closed.set()


@blp.get("/models")
@authenticated
@blp.arguments(ModelsQuerySchema, location="query")
@blp.response(200, ModelInfoSchema(many=True))
def models(query):
    """The model catalogue

    Query `workspace_id` (default: the caller's personal workspace): whose provider keys count. 200
    `[{id, provider, available, default, context_window, input_cost_per_token,
    output_cost_per_token, supports_vision}]`: `available` is true when credentials (server or
    workspace) or a local runtime exist; costs in US dollars per token, `context_window` in tokens.

    404 for a workspace the caller is not in."""
    return use_cases().llm_chat.models(current_actor().user_id, query.get("workspace_id"))


def replay_stream(stored: StoredResponse) -> Response:
    """A repeated streamed call (the same Idempotency-Key): the first call's events after the
    repeat's Last-Event-ID, from its kept result (the text after it as one `delta`); 204 when
    the client has them all."""
    done, ends = stored.body["done"], stored.body["delta_ends"]
    after = last_event_id()
    after = -1 if after is None else after
    frames = []
    if after < 0:
        frames.append(sse_frame("start", {"model": done["model"]}, 0))
    if len(ends) > max(after, 0):
        start = ends[after - 1] if after >= 1 else 0
        frames.append(sse_frame("delta", {"content": done["message"]["content"][start:]},
                                len(ends)))
    if after < len(ends) + 1:
        frames.append(sse_frame("done", done, len(ends) + 1))
    if not frames:
        return Response(status=204)
    return sse_response(iter([RETRY, *frames]))


@blp.post("/chat")
@limit_llm
@authenticated
@blp.arguments(LLMChatRequestSchema)
@idempotent(replay=replay_stream)
@blp.response(200, LLMChatResultSchema, description="The reply. " + STREAM_DESCRIPTION)
@blp.alt_response(200, description=STREAM_DESCRIPTION, schema=SSE_EVENT_SCHEMA,
                  content_type=EVENT_STREAM, success=True)
@blp.alt_response(402, description="Workspace budget spent")
@blp.alt_response(502, description="The model failed after retries and fallbacks")
@blp.alt_response(504, description="The model timed out")
def chat(body):
    """Call a model directly (nothing stored)

    One model call with the caller's messages, through the workspace's keys and budget. Body
    `{workspace_id?, model?, messages: [{role, content}], temperature?, max_tokens?, stream?}`. 200
    `{id, model, message: {role, content}, usage: {prompt_tokens, completion_tokens, total_tokens,
    cost_usd}, latency_ms, fallback_used}`; `model` is the model that answered. With streaming: SSE
    `start`, `delta`s, then `done` or `error`, each with `id: <seq>`. The call counts in analytics
    and budgets. With an `Idempotency-Key` header (or `client_message_id`), a repeat within 24 h
    gets the first call's answer without calling the model again (streamed: its events after
    the repeat's `Last-Event-ID`).

    402 when a budget is spent; 403 for a viewer; 404 for a workspace the caller is not in; 422 for
    invalid messages; 429 over RATELIMIT_LLM; 502 when the model failed after retries and fallbacks;
    504 when it timed out."""
    container, actor = use_cases(), current_actor()
    request = ChatRequest(messages=body["messages"], model=body.get("model"),
                          temperature=body.get("temperature"), max_tokens=body.get("max_tokens"))
    if wants_stream(body.get("stream")):
        workspace_id = container.access.require(actor.user_id, body.get("workspace_id")).workspace_id
        chunks = container.llm_chat.chat_stream(actor.user_id, workspace_id, request)
        watch = watch_caller(workspace_id, allowed=lambda: container.access.require(
            actor.user_id, workspace_id, WorkspaceRole.MEMBER))
        held = claim()
        on_done = None
        if held is not None:  # a repeat gets the result, never a second call
            def on_done(body: dict, ends: list[int]) -> None:
                held.finish(StoredResponse(200, {"done": body, "delta_ends": ends}, LLM_STREAM))
        feed = ChunkFeed(chunks, request.model, on_done)
        return sse_response(feed_frames([], feed, lambda event: event.data, keepalive_seconds(),
                                        watch))
    result = container.llm_chat.chat(actor.user_id, body.get("workspace_id"), request)
    container.metrics.gateway_overhead(
        "llm", False, time.perf_counter() - request_started() - result.latency_ms / 1000)
    return result_body(result)
