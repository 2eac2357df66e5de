"""Helpers for streaming tests: SSE parsing and the app served by a real HTTP server thread."""
from __future__ import annotations

import json
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from werkzeug.serving import make_server


def parse_sse(text: str) -> list[tuple[str, dict]]:
    """`(event name, data)` of every event of an SSE body (comments skipped)."""
    return list(iter_sse(text.splitlines()))


def iter_sse(lines: Iterable[str]) -> Iterator[tuple[str, dict]]:
    name, data = None, []
    for line in lines:
        if not line:
            if name is not None or data:
                yield name or "message", json.loads("\n".join(data))
            name, data = None, []
        elif line.startswith(":"):
            continue
        elif line.startswith("event:"):
            name = line[6:].strip()
        elif line.startswith("data:"):
            data.append(line[5:].strip())


def sse_comments(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.startswith(":")]


@contextmanager
def served(app) -> Iterator[str]:
    """The app behind a threaded werkzeug server on a free port; yields its base URL."""
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        server.server_close()


@dataclass(frozen=True)
class SseEvent:
    """One event as an EventSource sees it: its `id:` (None when it has none), name and data."""

    id: str | None
    name: str
    data: dict


def iter_events(lines: Iterable[str]) -> Iterator[SseEvent | int]:
    """The events of an SSE body, with their ids; a `retry:` field is yielded as its int."""
    name, data, event_id = None, [], None
    for line in lines:
        if not line:
            if name is not None or data:
                yield SseEvent(event_id, name or "message", json.loads("\n".join(data)))
            name, data, event_id = None, [], None
        elif line.startswith(":"):
            continue
        elif line.startswith("retry:"):
            yield int(line[6:].strip())
        elif line.startswith("id:"):
            event_id = line[3:].strip()
        elif line.startswith("event:"):
            name = line[6:].strip()
        elif line.startswith("data:"):
            data.append(line[5:].strip())


def parse_events(text: str) -> tuple[int | None, list[SseEvent]]:
    """The `retry:` an SSE body opens with (None without) and its events."""
    items = list(iter_events(text.splitlines()))
    retry = items[0] if items and isinstance(items[0], int) else None
    return retry, [item for item in items if isinstance(item, SseEvent)]
