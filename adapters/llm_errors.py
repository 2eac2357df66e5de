"""LiteLLM's exceptions, turned into the domain's upstream errors.

Provider messages are logged, not returned: they can quote keys, prompts or internal URLs.
"""
from __future__ import annotations

import logging
from typing import Any

from entities.errors import (
    DomainError,
    UpstreamError,
    UpstreamRateLimited,
    UpstreamTimeout,
    ValidationFailed,
)

log = logging.getLogger(__name__)


def upstream_error(exc: BaseException, model: str) -> DomainError:
    if isinstance(exc, DomainError):
        return exc
    import litellm

    details = {"model": model}
    log.warning("model call to %s failed: %s: %.500s", model, type(exc).__name__, exc)
    if isinstance(exc, (litellm.Timeout, TimeoutError)):
        return UpstreamTimeout(f"The model provider timed out ({model})", details=details)
    if isinstance(exc, litellm.ContextWindowExceededError):
        return ValidationFailed(f"The messages do not fit {model}'s context window",
                                details={"messages": [f"Too long for {model}; shorten them."]})
    if isinstance(exc, litellm.RateLimitError):
        return UpstreamRateLimited(f"The model provider is rate limiting requests ({model})",
                                   retry_after=retry_after(exc), details=details)
    if isinstance(exc, litellm.AuthenticationError):
        return UpstreamError(f"The model provider rejected the API key ({model})", details=details)
    return UpstreamError(f"The model provider failed ({model}: {type(exc).__name__})",
                         details=details)


def retry_after(exc: Any) -> int | None:
    """Seconds from the provider's Retry-After header (an HTTP date is ignored)."""
    candidates = [getattr(exc, "litellm_response_headers", None)]
    response = getattr(exc, "response", None)
    if response is not None:
        candidates.append(getattr(response, "headers", None))
    for headers in candidates:
        value = headers.get("retry-after") if headers else None
        if value is None:
            continue
        try:
            return max(0, round(float(value)))
        except ValueError:
            continue
    return None
