"""The Responses API's stream events (controllers/responses_stream.py), each checked against the
openai SDK's own event types: a reply that fails midway ends with `error` then
`response.failed`; one cut at max_output_tokens ends `response.incomplete`; a message that
came without deltas is still announced before it is done."""
from __future__ import annotations

import json

from openai.types.responses import ResponseStreamEvent
from pydantic import TypeAdapter

from controllers.responses_stream import response_events
from entities.errors import UpstreamError
from entities.llm import StreamChunk
from use_cases.gateway.openai_responses import ResponseDone

EVENTS = TypeAdapter(ResponseStreamEvent)
STARTED = {"id": "resp_1", "object": "response", "created_at": 1, "status": "in_progress",
           "model": "m", "output": [], "parallel_tool_calls": True, "tool_choice": "auto",
           "tools": [], "usage": None, "error": None, "incomplete_details": None}


def finished(text: str, status: str = "completed") -> dict:
    message = {"id": "msg_1", "type": "message", "status": status, "role": "assistant",
               "content": [{"type": "output_text", "text": text, "annotations": [],
                            "logprobs": []}]}
    details = {"reason": "max_output_tokens"} if status == "incomplete" else None
    return {**STARTED, "status": status, "output": [message], "incomplete_details": details,
            "usage": {"input_tokens": 1, "output_tokens": 1, "total_tokens": 2,
                      "input_tokens_details": {"cached_tokens": 0, "cache_write_tokens": 0},
                      "output_tokens_details": {"reasoning_tokens": 0}}}


def events_of(items) -> list[dict]:
    frames = list(response_events(STARTED, "msg_1", iter(items)))
    events = []
    for frame in frames:
        name, data = frame.strip().split("\n")
        event = json.loads(data.removeprefix("data: "))
        assert name == f"event: {event['type']}"
        EVENTS.validate_python(event)
        events.append(event)
    assert [e["sequence_number"] for e in events] == list(range(len(events)))
    return events


def failing_midway():
    yield StreamChunk(delta="Hel")
    raise UpstreamError("provider went away")


def test_a_reply_failing_midway_ends_with_error_then_response_failed():
    events = events_of(failing_midway())
    assert [e["type"] for e in events][-3:] == [
        "response.output_text.delta", "error", "response.failed"]
    assert events[-2]["code"] == "upstream_error"
    assert events[-1]["response"]["status"] == "failed"
    assert events[-1]["response"]["error"]["code"] == "server_error"


def test_a_reply_cut_at_max_output_tokens_ends_incomplete():
    events = events_of([StreamChunk(delta="Hi"), ResponseDone(finished("Hi", "incomplete"))])
    assert events[-1]["type"] == "response.incomplete"


def test_a_message_without_deltas_is_announced_before_it_is_done():
    events = events_of([ResponseDone(finished("all at once"))])
    assert [e["type"] for e in events] == [
        "response.created", "response.in_progress", "response.output_item.added",
        "response.content_part.added", "response.output_text.done",
        "response.content_part.done", "response.output_item.done", "response.completed"]
    assert events[4]["text"] == "all at once"
