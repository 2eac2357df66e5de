"""Server-Sent Events: `event: <name>` + `data: <json>` frames, with keep-alive comments."""
from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable, Iterator

from flask import Response, request

from controllers.deps import settings
from use_cases.chat.generations import Feed, StreamEvent

EVENT_STREAM = "text/event-stream"


def wants_stream(stream_flag: bool | None) -> bool:
    """`stream: true` in the body, or a client that asks for an event stream."""
    return bool(stream_flag) or EVENT_STREAM in request.headers.get("Accept", "")


def sse_frame(name: str, data: dict) -> str:
    return f"event: {name}\ndata: {json.dumps(data, default=str, separators=(',', ':'))}\n\n"


def feed_frames(first: Iterable[str], feed: Feed, render: Callable[[StreamEvent], dict],
                keepalive_s: float) -> Iterator[str]:
    """`first` frames, then the feed's events until its end, with a comment line whenever
    nothing was sent for `keepalive_s` seconds. Closing the generator (the client went away)
    only stops following: the reply goes on."""
    try:
        yield from first
        last = time.monotonic()
        while not feed.ended:
            event = feed.next(timeout=min(1.0, keepalive_s))
            if event is None:
                if time.monotonic() - last >= keepalive_s:
                    last = time.monotonic()
                    yield ": keep-alive\n\n"
                continue
            last = time.monotonic()
            yield sse_frame(event.type, render(event))
            if event.is_terminal:
                return
    finally:
        feed.close()


def sse_response(frames: Iterator[str], status: int = 200) -> Response:
    response = Response(frames, status=status, mimetype=EVENT_STREAM)
    response.headers["Cache-Control"] = "no-cache"
    response.headers["X-Accel-Buffering"] = "no"  # nginx: pass each event on at once
    return response


def keepalive_seconds() -> float:
    return settings().stream_keepalive_s
