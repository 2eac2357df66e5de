"""Requests the service makes to URLs its users chose (workflow HTTP nodes, webhooks)."""
from __future__ import annotations

from dataclasses import dataclass, field

from entities.errors import UpstreamError, ValidationFailed


@dataclass(frozen=True)
class HttpResponse:
    status: int
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""
    url: str = ""  # the URL that answered, after redirects


class OutboundRefused(ValidationFailed):
    """The URL points somewhere the service must not reach (private network, metadata...)."""

    default_message = "This URL is not allowed"


class OutboundFailed(UpstreamError):
    """The remote end could not be reached, timed out, or sent too much."""

    default_message = "The request to the remote URL failed"


class HostNotResolved(OutboundFailed):
    """The URL's host has no address in DNS (now): a typo, or a name not yet published."""

    default_message = "The host of this URL does not resolve"
