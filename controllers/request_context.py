"""Request ids, one JSON access-log line per request, and security headers."""
from __future__ import annotations

import logging
import re
import time
import uuid

from flask import Flask, g, request
from werkzeug.exceptions import RequestEntityTooLarge

access_log = logging.getLogger("synapscale.access")
_SAFE_ID = re.compile(r"^[A-Za-z0-9._-]{1,128}$")

SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cross-Origin-Opener-Policy": "same-origin",
}


def _begin() -> None:
    incoming = request.headers.get("X-Request-ID", "")
    g.request_id = incoming if _SAFE_ID.match(incoming) else uuid.uuid4().hex
    g.started_at = time.perf_counter()


def _finish(response):
    response.headers["X-Request-ID"] = g.get("request_id", "")
    for name, value in SECURITY_HEADERS.items():
        response.headers.setdefault(name, value)
    duration_ms = round((time.perf_counter() - g.get("started_at", time.perf_counter())) * 1000, 2)
    access_log.info("request", extra={"fields": {
        "method": request.method,
        "path": request.path,
        "status": response.status_code,
        "duration_ms": duration_ms,
        "request_id": g.get("request_id"),
        "user_id": g.get("user_id"),
    }})
    return response


def _body_limit(max_bytes: int):
    """JSON bodies get a small limit; multipart uploads are bounded by the file-size rules."""

    def check() -> None:
        if request.mimetype == "multipart/form-data":
            return
        if (request.content_length or 0) > max_bytes:
            raise RequestEntityTooLarge(f"Request body larger than {max_bytes} bytes")

    return check


def install_request_context(app: Flask, max_body_bytes: int) -> None:
    app.before_request(_begin)
    app.before_request(_body_limit(max_body_bytes))
    app.after_request(_finish)
