"""The Responses API's typed stream events (OpenAI's `ResponseStreamEvent`), as SSE.

Order, as OpenAI sends them: `response.created`, `response.in_progress`; with text,
`response.output_item.added` (the message), `response.content_part.added`, one
`response.output_text.delta` per piece, `response.output_text.done`,
`response.content_part.done`, `response.output_item.done`; for each function call,
`response.output_item.added`, `response.function_call_arguments.delta`,
`response.function_call_arguments.done`, `response.output_item.done`; then
`response.completed` (`response.incomplete` when the reply was cut at `max_output_tokens`)
with the whole Response. Every event has `sequence_number` (0, 1, 2...). A failure after the
stream started is an `error` event, then `response.failed`. No `[DONE]` line (OpenAI sends none).

LiteLLM's own stream bridge (LiteLLMCompletionStreamingIterator) is not used: it reads a LiteLLM
stream wrapper, not the gateway's metered stream, and renames response ids with routing data.
"""
from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterator
from typing import Any

from controllers.errors import status_for
from entities.errors import DomainError
from entities.llm import StreamChunk
from use_cases.gateway.openai_responses import ResponseDone

log = logging.getLogger("synapscale.openai")


class ResponseEvents:
    """Numbers the events of one response and renders them as SSE."""

    def __init__(self):
        self.sequence = 0

    def __call__(self, kind: str, **fields: Any) -> str:
        event = {"type": kind, "sequence_number": self.sequence, **fields}
        self.sequence += 1
        return f"event: {kind}\ndata: {json.dumps(event)}\n\n"


def response_events(started: dict, item_id: str, items: Iterator[StreamChunk | ResponseDone],
                    live: Callable[[], bool] = lambda: True,
                    on_close: Callable[[], None] = lambda: None,
                    on_done: Callable[[dict], None] = lambda body: None) -> Iterator[str]:
    """The events of one response: `started` is the Response as it begins (in progress),
    `item_id` its message item's id, `items` the text deltas then the finished Response
    (given to `on_done`: an idempotent request keeps it for its repeats). `live()` false (the
    caller's session ended) stops the stream with an error event."""
    event = ResponseEvents()
    text: list[str] = []
    message = {"id": item_id, "type": "message", "status": "in_progress", "role": "assistant",
               "content": []}
    where = {"item_id": item_id, "output_index": 0, "content_index": 0}
    try:
        yield event("response.created", response=started)
        yield event("response.in_progress", response=started)
        for item in items:
            if not live():
                yield from failed(event, started, 401, "token_revoked", "The session has ended")
                return
            if isinstance(item, ResponseDone):
                on_done(item.body)
                yield from finished(event, item.body, text, where)
                return
            if not text:
                yield event("response.output_item.added", output_index=0, item=message)
                yield event("response.content_part.added", **where, part=output_text(""))
            text.append(item.delta)
            yield event("response.output_text.delta", **where, delta=item.delta, logprobs=[])
    except DomainError as error:
        yield from failed(event, started, status_for(error), error.code, error.message)
    except Exception:
        log.exception("response stream failed")
        yield from failed(event, started, 500, "internal_error", "Internal server error")
    finally:
        close = getattr(items, "close", None)
        if close is not None:
            close()
        on_close()


def output_text(text: str) -> dict:
    return {"type": "output_text", "text": text, "annotations": [], "logprobs": []}


def finished(event: ResponseEvents, body: dict, text: list[str], where: dict) -> Iterator[str]:
    for index, item in enumerate(body.get("output") or []):
        if item.get("type") == "message":
            if not text:  # a message the stream did not announce (no deltas came)
                yield event("response.output_item.added", output_index=index,
                            item={**item, "status": "in_progress", "content": []})
                yield event("response.content_part.added", **{**where, "output_index": index},
                            part=output_text(""))
            whole = "".join(text) or "".join(p.get("text", "") for p in item.get("content") or [])
            at = {**where, "item_id": item["id"], "output_index": index}
            yield event("response.output_text.done", **at, text=whole, logprobs=[])
            yield event("response.content_part.done", **at, part=output_text(whole))
            yield event("response.output_item.done", output_index=index, item=item)
        elif item.get("type") == "function_call":
            at = {"item_id": item["id"], "output_index": index}
            yield event("response.output_item.added", output_index=index,
                        item={**item, "status": "in_progress", "arguments": ""})
            yield event("response.function_call_arguments.delta", **at, delta=item["arguments"])
            yield event("response.function_call_arguments.done", **at, name=item["name"],
                        arguments=item["arguments"])
            yield event("response.output_item.done", output_index=index, item=item)
    kind = "response.completed" if body.get("status") == "completed" else "response.incomplete"
    yield event(kind, response=body)


def failed(event: ResponseEvents, started: dict, status: int, code: str,
           message: str) -> Iterator[str]:
    """OpenAI's `error` event, then `response.failed` with the error on the Response."""
    yield event("error", code=code, message=message, param=None)
    kind = "rate_limit_exceeded" if status == 429 else "server_error"  # Response.error's codes
    yield event("response.failed", response={**started, "status": "failed",
                                             "error": {"code": kind, "message": message}})
    log.info("response stream ended with %s (%s)", code, status)
