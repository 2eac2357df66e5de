"""Server-Sent Events: `event: <name>` + `data: <json>` frames, with keep-alive comments.

A stream holds a Watch of its caller's login session (use_cases/identity/revocation.py): when
the session ends or the caller's rights change, the stream sends an `error` event with code
`token_revoked` and ends, within a few seconds, on whichever worker it is.
"""
from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable, Iterator

from flask import Response, request

from controllers.deps import settings, use_cases
from controllers.security import current_actor
from use_cases.chat.generations import Feed, StreamEvent
from use_cases.identity.revocation import Allowed, Watch

EVENT_STREAM = "text/event-stream"
REVOKED = {"code": "token_revoked", "message": "The session has ended"}


def wants_stream(stream_flag: bool | None) -> bool:
    """`stream: true` in the body, or a client that asks for an event stream."""
    return bool(stream_flag) or EVENT_STREAM in request.headers.get("Accept", "")


def sse_frame(name: str, data: dict) -> str:
    return f"event: {name}\ndata: {json.dumps(data, default=str, separators=(',', ':'))}\n\n"


def watch_caller(workspace_id: str | None = None, allowed: Allowed | None = None) -> Watch:
    """A watch of the current caller's session for a stream (see the module's docstring)."""
    return use_cases().revocations.watch(current_actor(), workspace_id, allowed)


def feed_frames(first: Iterable[str], feed: Feed, render: Callable[[StreamEvent], dict],
                keepalive_s: float, watch: Watch) -> Iterator[str]:
    """`first` frames, then the feed's events until its end, with a comment line whenever
    nothing was sent for `keepalive_s` seconds; ended early by the watch. Closing the generator
    (the client went away) only stops following: the reply goes on."""
    try:
        yield from first
        last = time.monotonic()
        while not feed.ended:
            if not watch.live():
                yield sse_frame("error", REVOKED)
                return
            event = feed.next(timeout=min(1.0, keepalive_s))
            if event is None:
                if time.monotonic() - last >= keepalive_s:
                    last = time.monotonic()
                    yield ": keep-alive\n\n"
                continue
            if not watch.live():
                yield sse_frame("error", REVOKED)
                return
            last = time.monotonic()
            yield sse_frame(event.type, render(event))
            if event.is_terminal:
                return
    finally:
        feed.close()
        watch.close()


def sse_response(frames: Iterator[str], status: int = 200) -> Response:
    response = Response(frames, status=status, mimetype=EVENT_STREAM)
    response.headers["Cache-Control"] = "no-cache"
    response.headers["X-Accel-Buffering"] = "no"  # nginx: pass each event on at once
    return response


def keepalive_seconds() -> float:
    return settings().stream_keepalive_s
