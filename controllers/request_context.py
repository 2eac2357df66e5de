"""Request ids, one JSON access-log line per request, security headers, and the JSON input
policy (controllers/json_policy.py) applied to every body before any route reads it."""
from __future__ import annotations

import logging
import re
import time
import uuid
from typing import Any

from flask import Flask, g, request
from flask.json.provider import DefaultJSONProvider
from werkzeug.exceptions import BadRequest, RequestEntityTooLarge

from controllers import json_policy

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


class PolicyJSONProvider(DefaultJSONProvider):
    """request.get_json() reads bodies under the same policy."""

    def loads(self, s: str | bytes, **kwargs: Any) -> Any:
        return json_policy.loads(s)


def _json_policy() -> None:
    """Every JSON body, on every route: what the policy refuses is a 400 `bad_request` here,
    before rate limits, authentication or the route parse it (text that is not JSON at all is
    left to the route's own 400)."""
    if not request.is_json:
        return
    body = request.get_data(cache=True)
    if not body:
        return
    try:
        json_policy.loads(body)
    except json_policy.InputRejected as error:
        raise BadRequest(str(error)) from None
    except ValueError:
        return


def install_request_context(app: Flask, max_body_bytes: int) -> None:
    app.json = PolicyJSONProvider(app)
    app.before_request(_begin)
    app.before_request(_body_limit(max_body_bytes))
    app.before_request(_json_policy)
    app.after_request(_finish)
