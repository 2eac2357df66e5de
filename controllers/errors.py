"""Every error leaves the service in one JSON shape (API.md); tracebacks only reach the log."""
from __future__ import annotations

import logging
from typing import Any

from flask import Flask, g, jsonify, request
from werkzeug.exceptions import HTTPException, InternalServerError

from entities import errors

log = logging.getLogger("synapscale.errors")

STATUS_BY_ERROR: list[tuple[type[errors.DomainError], int]] = [
    (errors.InvalidCredentials, 401),
    (errors.Unauthorized, 401),
    (errors.NotFound, 404),
    (errors.Forbidden, 403),
    (errors.Conflict, 409),
    (errors.ValidationFailed, 422),
    (errors.LimitExceeded, 422),
    (errors.QuotaExceeded, 413),
    (errors.PayloadTooLarge, 413),
    (errors.UnsupportedMediaType, 415),
    (errors.BudgetExceeded, 402),
    (errors.RateLimited, 429),
    (errors.UpstreamTimeout, 504),
    (errors.UpstreamError, 502),
    (errors.ServiceUnavailable, 503),
]

CODE_BY_STATUS = {
    400: "bad_request",
    401: "unauthorized",
    402: "budget_exceeded",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "validation_error",
    429: "rate_limited",
    500: "internal_error",
    502: "upstream_error",
    503: "service_unavailable",
    504: "upstream_timeout",
}

OPENAI_TYPE_BY_STATUS = {
    400: "invalid_request_error",
    401: "authentication_error",
    402: "insufficient_quota",
    403: "permission_error",
    404: "not_found_error",
    422: "invalid_request_error",
    429: "rate_limit_error",
}


def status_for(error: errors.DomainError) -> int:
    for cls, status in STATUS_BY_ERROR:
        if isinstance(error, cls):
            return status
    return 400


def openai_param(details: dict | None) -> str | None:
    """The request field an error is about: `details["param"]`, else the first field a
    validation error names (`field` or `field.sub`)."""
    if not details:
        return None
    if isinstance(details.get("param"), str):
        return details["param"]
    for name, value in details.items():
        if name == "_schema":
            continue
        if isinstance(value, dict) and value and not all(isinstance(k, int) for k in value):
            inner = openai_param(value)
            return f"{name}.{inner}" if inner else str(name)
        return str(name)
    return None


def error_response(status: int, code: str, message: str, details: dict | None = None,
                   headers: dict[str, Any] | None = None):
    if request.path.startswith("/v1/"):
        body = {"error": {"message": message, "type": OPENAI_TYPE_BY_STATUS.get(
            status, "api_error"), "code": code, "param": openai_param(details)}}
    else:
        body = {"error": {"code": code, "message": message, "details": details or {}}}
    response = jsonify(body)
    response.status_code = status
    for name, value in (headers or {}).items():
        response.headers[name] = str(value)
    return response


def _flatten_webargs(messages: Any) -> dict:
    """webargs nests messages by location ({"json": {...}}); clients want field -> messages."""
    if not isinstance(messages, dict):
        return {"_schema": messages}
    flat: dict = {}
    for location, fields in messages.items():
        if isinstance(fields, dict):
            flat.update(fields)
        else:
            flat[location] = fields
    return flat


def handle_http_exception(error: HTTPException):
    status = error.code or 500
    code = CODE_BY_STATUS.get(status, "error")
    data = getattr(error, "data", None) or {}
    if status == 422:
        details = _flatten_webargs(data.get("messages", {}))
        return error_response(422, code, "Request validation failed", details)
    if status == 400 and data.get("messages"):
        return error_response(400, code, "Malformed request body", _flatten_webargs(data["messages"]))
    headers = {}
    if status == 429:
        retry_after = getattr(error, "retry_after", None) or 60
        headers["Retry-After"] = retry_after
    if status == 405 and error.valid_methods:
        headers["Allow"] = ", ".join(error.valid_methods)
    message = error.description if isinstance(error.description, str) else error.name
    return error_response(status, code, message or error.name, headers=headers)


def handle_domain_error(error: errors.DomainError):
    status = status_for(error)
    headers = {}
    if isinstance(error, errors.RateLimited) and error.retry_after:
        headers["Retry-After"] = error.retry_after
    if isinstance(error, errors.ServiceUnavailable):
        headers["Retry-After"] = 5
    return error_response(status, error.code, error.message, error.details, headers)


def handle_database_unavailable(error: Exception):
    log.warning("database unavailable", extra={"fields": {
        "request_id": getattr(g, "request_id", None), "error": type(error).__name__}})
    return error_response(503, "service_unavailable", "Database unavailable, retry shortly",
                          headers={"Retry-After": 5})


def handle_unexpected(error: Exception):
    log.error("unhandled error", exc_info=error, extra={"fields": {
        "request_id": getattr(g, "request_id", None), "path": request.path}})
    return error_response(500, "internal_error", "Internal server error")


def register_error_handlers(app: Flask, unavailable: tuple[type[Exception], ...] = ()) -> None:
    app.register_error_handler(errors.DomainError, handle_domain_error)
    app.register_error_handler(HTTPException, handle_http_exception)
    for exc in unavailable:
        app.register_error_handler(exc, handle_database_unavailable)

    def handle_internal(error: InternalServerError):
        """A database failure after the view (an after_request hook, e.g. the rate-limit
        headers) reaches Flask as a 500 wrapping it: it is still a 503."""
        if isinstance(error.original_exception, unavailable):
            return handle_database_unavailable(error.original_exception)
        return handle_http_exception(error)

    app.register_error_handler(InternalServerError, handle_internal)
    app.register_error_handler(Exception, handle_unexpected)
