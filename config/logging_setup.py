"""JSON logs, one object per line, with the request id when there is one.

Tokens in query strings (`?token=` on WebSockets and the SSE resume route, for clients that
cannot send headers) never reach a log: a line that quotes a URL (the development server's
request lines, a library's error) has their values replaced by `[redacted]`."""
from __future__ import annotations

import json
import logging
import re
import sys
from datetime import UTC, datetime

_SECRET_PARAMETER = re.compile(r"([?&](?:token|access_token|refresh_token)=)[^&\s\"'#]*",
                               re.IGNORECASE)


def redact(text: str) -> str:
    """`text` with the values of token query parameters replaced."""
    return _SECRET_PARAMETER.sub(r"\1[redacted]", text)


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        payload = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "level": record.levelname,
            "logger": record.name,
            "message": redact(record.getMessage()),
        }
        payload.update(getattr(record, "fields", {}))
        if record.exc_info:
            payload["exc"] = redact(self.formatException(record.exc_info))
        return redact(json.dumps(payload, default=str))


def configure_logging(level: str) -> None:
    root = logging.getLogger()
    if not any(isinstance(h.formatter, JsonFormatter) for h in root.handlers):
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(JsonFormatter())
        root.handlers = [handler]
    root.setLevel(level.upper())
    for noisy in ("pymongo", "LiteLLM", "litellm", "httpx", "httpx2", "mcp", "bm25s", "urllib3"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
