"""/api/v1/llm: the model catalogue and direct model calls (no talk is stored)."""
from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Iterator

from flask_smorest import Blueprint

from controllers.deps import use_cases
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
    feed_frames,
    keepalive_seconds,
    sse_response,
    wants_stream,
    watch_caller,
)
from entities.errors import DomainError
from entities.llm import ChatRequest, ChatResult, StreamChunk
from entities.workspace import WorkspaceRole
from use_cases.chat.generations import Feed, StreamEvent

log = logging.getLogger(__name__)

blp = Blueprint("llm", __name__, url_prefix="/api/v1/llm",
                description="The model catalogue and direct model calls")

STREAM_DESCRIPTION = (
    "With `stream: true` or `Accept: text/event-stream`: SSE events `start` `{model}`, `delta` "
    "`{content}` (many), then `done` (the result, as without streaming) or `error` "
    "`{code, message}`; keep-alive comments at least every 15 s.")


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
    model is quiet. Closing the feed (the client left) stops reading, which ends the call."""

    def __init__(self, chunks: Iterator[StreamChunk], model: str | None):
        self.events: queue.Queue[StreamEvent] = queue.Queue()
        self.closed = threading.Event()
        self.events.put(StreamEvent("start", {"model": model}))
        threading.Thread(target=self._pump, args=(chunks,), name="llm-stream", daemon=True).start()

    def _pump(self, chunks: Iterator[StreamChunk]) -> None:
        ended = False
        try:
            for chunk in chunks:
                if self.closed.is_set():
                    return
                if chunk.delta:
                    self.events.put(StreamEvent("delta", {"content": chunk.delta}))
                if chunk.result is not None:
                    self.events.put(StreamEvent("done", result_body(chunk.result)))
                    ended = True
        except DomainError as error:
            self.events.put(StreamEvent("error", {"code": error.code, "message": error.message}))
            ended = True
        except Exception:
            log.exception("a model stream failed")
        finally:
            close = getattr(chunks, "close", None)
            if close is not None:
                close()
        if not ended:
            self.events.put(StreamEvent("error", {"code": "upstream_error",
                                                  "message": "The model provider failed"}))

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


@blp.post("/chat")
@limit_llm
@authenticated
@blp.arguments(LLMChatRequestSchema)
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
    `start`, `delta`s, then `done` or `error`. The call counts in analytics and budgets.

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
        feed = ChunkFeed(chunks, request.model)
        return sse_response(feed_frames([], feed, lambda event: event.data, keepalive_seconds(),
                                        watch))
    result = container.llm_chat.chat(actor.user_id, body.get("workspace_id"), request)
    container.metrics.gateway_overhead(
        "llm", False, time.perf_counter() - request_started() - result.latency_ms / 1000)
    return result_body(result)
