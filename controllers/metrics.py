"""/metrics for Prometheus, and the HTTP measurements behind it: requests by route template
(the url rule, never the raw path, so ids do not explode the series) and status, latency, and
open SSE streams."""
from __future__ import annotations

import hmac
import time

from flask import Flask, Response, g, request

from controllers.blueprint import Blueprint
from controllers.deps import settings, use_cases
from controllers.errors import error_response
from controllers.openapi import BEARER

blp = Blueprint("metrics", __name__, description="Prometheus metrics")

UNMATCHED = "<unmatched>"
TEXT_RESPONSE = {"200": {"description": "Prometheus text exposition format (version 0.0.4)",
                         "content": {"text/plain": {"schema": {"type": "string"}}}},
                 "401": {"description": "METRICS_TOKEN is set and the bearer token differs"}}


@blp.get("/metrics")
@blp.doc(responses=TEXT_RESPONSE, security=[{}, *BEARER])
def metrics():
    """Prometheus metrics

    Request counts and latencies by route and status, model calls, tokens, cost, latency and
    time to first token by model, calls answered by a fallback, calls refused by a spent budget,
    open streams, gateway overhead and workflow runs — summed over every gunicorn worker. With
    METRICS_TOKEN set, send `Authorization: Bearer <token>`.

    200 in Prometheus' text format (version 0.0.4). 401 when METRICS_TOKEN is set and the bearer
    token differs. No rate limit."""
    token = settings().metrics_token
    if token:
        scheme, _, presented = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(presented.strip().encode(),
                                                                 token.encode()):
            return error_response(401, "unauthorized", "A valid metrics token is required")
    body, content_type = use_cases().metrics.exposition()
    return Response(body, content_type=content_type)


def _start() -> None:
    g.metrics_started = time.perf_counter()


def request_started() -> float:
    """perf_counter() when this request reached the app (before auth and rate limits)."""
    return g.get("metrics_started") or time.perf_counter()


def _record(response):
    meter = use_cases().metrics
    route = request.url_rule.rule if request.url_rule is not None else UNMATCHED
    meter.http_request(request.method, route, response.status_code,
                       time.perf_counter() - request_started())
    if response.is_streamed and response.mimetype == "text/event-stream":
        meter.stream_opened(route)
        response.call_on_close(lambda: meter.stream_closed(route))
    return response


def init_metrics(app: Flask) -> None:
    app.before_request(_start)
    app.after_request(_record)
