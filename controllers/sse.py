"""Server-Sent Events: `id: <seq>` + `event: <name>` + `data: <json>` frames, with keep-alive
comments; a stream opens with `retry: <ms>` (API.md "Streams and sends that never duplicate or
lose"; the WHATWG HTML standard, "Server-sent events").

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
RETRY_MS = 3000  # how long an EventSource waits before it reconnects
RETRY = f"retry: {RETRY_MS}\n\n"
LAST_EVENT_ID = "Last-Event-ID"


def wants_stream(stream_flag: bool | None) -> bool:
    """`stream: true` in the body, or a client that asks for an event stream."""
    return bool(stream_flag) or EVENT_STREAM in request.headers.get("Accept", "")


def sse_frame(name: str, data: dict, seq: int | None = None) -> str:
    """One event; with `seq`, its `id:` (what an EventSource sends back as Last-Event-ID)."""
    head = f"id: {seq}\n" if seq is not None else ""
    return (f"{head}event: {name}\n"
            f"data: {json.dumps(data, default=str, separators=(',', ':'))}\n\n")


def last_event_id() -> int | None:
    """The `Last-Event-ID` header as a sequence number (None when absent or not one: a stream
    from the start). ASCII digits only: str.isdigit() also takes "²", which int() refuses."""
    value = request.headers.get(LAST_EVENT_ID, "").strip()
    return int(value) if value.isascii() and value.isdigit() and len(value) <= 18 else None


def watch_caller(workspace_id: str | None = None, allowed: Allowed | None = None) -> Watch:
    """A watch of the current caller's session for a stream (see the module's docstring)."""
    return use_cases().revocations.watch(current_actor(), workspace_id, allowed)


def feed_frames(first: Iterable[str], feed: Feed, render: Callable[[StreamEvent], dict],
                keepalive_s: float, watch: Watch) -> Iterator[str]:
    """`retry:`, the `first` frames, then the feed's events (each with its `seq` as `id:`) until
    its end, with a comment line whenever nothing was sent for `keepalive_s` seconds; ended
    early by the watch (an `error` with the id of the last event sent, so that a resume misses
    nothing). Closing the generator (the client went away) only stops following: the reply
    goes on."""
    sent: int | None = None
    try:
        yield RETRY
        yield from first
        last = time.monotonic()
        while not feed.ended:
            if not watch.live():
                yield sse_frame("error", REVOKED, sent)
                return
            event = feed.next(timeout=min(1.0, keepalive_s))
            if event is None:
                if time.monotonic() - last >= keepalive_s:
                    last = time.monotonic()
                    yield ": keep-alive\n\n"
                continue
            if not watch.live():
                yield sse_frame("error", REVOKED, sent)
                return
            last = time.monotonic()
            sent = event.seq if event.seq is not None else sent
            yield sse_frame(event.type, render(event), event.seq)
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
