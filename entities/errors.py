"""Domain errors. Use cases raise these; one handler in controllers maps them to HTTP."""
from __future__ import annotations

from typing import Any


class DomainError(Exception):
    code = "error"

    def __init__(self, message: str = "", details: dict[str, Any] | None = None):
        super().__init__(message or self.__class__.__name__)
        self.message = message or self.default_message
        self.details = details or {}

    default_message = "Error"


class NotFound(DomainError):
    code = "not_found"
    default_message = "Not found"


class ModelNotFound(NotFound):
    """A model the catalogue does not have (OpenAI's `model_not_found`)."""
    code = "model_not_found"
    default_message = "Model not found"


class Forbidden(DomainError):
    code = "forbidden"
    default_message = "You do not have permission to do this"


class Conflict(DomainError):
    code = "conflict"
    default_message = "Conflict"


class ValidationFailed(DomainError):
    code = "validation_error"
    default_message = "Validation failed"


class UnknownModel(ValidationFailed):
    """A model the catalogue does not have, named in a request (422 on /api; /v1 says 404)."""


class InvalidParameter(DomainError):
    """A request field that is unknown or not supported (400), named in `param`."""
    code = "invalid_parameter"
    default_message = "Invalid parameter"

    def __init__(self, message: str, param: str, code: str | None = None):
        super().__init__(message, {"param": param})
        self.param = param
        if code:
            self.code = code


class Unauthorized(DomainError):
    code = "unauthorized"
    default_message = "Authentication required"


class InvalidCredentials(Unauthorized):
    code = "invalid_credentials"
    default_message = "Invalid email or password"


class TokenRevoked(Unauthorized):
    code = "token_revoked"
    default_message = "Token has been revoked"


class TokenExpired(Unauthorized):
    code = "token_expired"
    default_message = "Token has expired"


class QuotaExceeded(DomainError):
    code = "quota_exceeded"
    default_message = "Storage quota exceeded"


class PayloadTooLarge(DomainError):
    code = "payload_too_large"
    default_message = "Payload too large"


class UnsupportedMediaType(DomainError):
    code = "unsupported_media_type"
    default_message = "File type not allowed"


class BudgetExceeded(DomainError):
    code = "budget_exceeded"
    default_message = "Budget exceeded"


class RateLimited(DomainError):
    code = "rate_limited"
    default_message = "Too many requests"

    def __init__(self, message: str = "", retry_after: int | None = None, **kw: Any):
        super().__init__(message, **kw)
        self.retry_after = retry_after


class UpstreamError(DomainError):
    code = "upstream_error"
    default_message = "The model provider failed"


class ReplyTooLarge(UpstreamError):
    """The provider's reply passed the size cap: refused, yet paid for. `usage` is what the
    provider reported (an entities.llm.Usage), None when it reported nothing."""

    default_message = "The model's reply exceeded the size limit"

    def __init__(self, message: str = "", details: dict[str, Any] | None = None, usage: Any = None):
        super().__init__(message, details)
        self.usage = usage


class UpstreamTimeout(UpstreamError):
    code = "upstream_timeout"
    default_message = "The model provider timed out"


class UpstreamRateLimited(RateLimited):
    default_message = "The model provider is rate limiting requests"


class ServiceUnavailable(DomainError):
    code = "service_unavailable"
    default_message = "Service temporarily unavailable"


class LimitExceeded(DomainError):
    """Untrusted work (a template, a JSONPath query, a document's text) went over a limit and was
    stopped. `code`: timeout, cpu_limit, memory_limit or output_too_large. Deterministic: trying
    again gives the same result."""
    code = "limit_exceeded"
    default_message = "The work went over a limit and was stopped"

    def __init__(self, message: str, code: str):
        super().__init__(message)
        self.code = code
