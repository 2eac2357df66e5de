"""Headers a tool sends (API keys, bearer tokens): stored encrypted, shown masked.

A tool's responses show each stored header as MASK; a save that sends MASK back keeps the stored
value, but only while the tool's url keeps its origin (scheme, host, port): otherwise whoever
may edit the tool could point it at a server of theirs and receive the secret (RFC 6454's
origin, the unit browsers isolate credentials by).
"""
from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from entities.errors import ValidationFailed
from use_cases.shared.ports import Encryptor

MASK = "********"
STORED = "headers_encrypted"


def origin(url: str) -> tuple[str, str, int | None]:
    """(scheme, host, port) of `url`, lower-cased; empty for a url that cannot be parsed."""
    try:
        parts = urlsplit(url)
        return parts.scheme.lower(), (parts.hostname or "").lower(), parts.port
    except ValueError:
        return "", "", None


def seal(headers: dict[str, str], url: str, previous: dict[str, Any] | None, kind: str,
         encryptor: Encryptor) -> dict[str, str]:
    """`headers` encrypted for storage; a MASK value keeps the `previous` config's stored value
    when it is the same kind of tool on the same origin. ValidationFailed (on `headers`)
    otherwise: the value must be sent again."""
    same_origin = previous is not None and previous.get("type") == kind \
        and origin(previous.get("url", "")) == origin(url)
    kept = (previous or {}).get(STORED) or {}
    sealed = {}
    for name, value in headers.items():
        if value != MASK:
            sealed[name] = encryptor.encrypt(value)
        elif same_origin and name in kept:
            sealed[name] = kept[name]
        else:
            raise ValidationFailed("Send the header's value again", details={"headers": {
                name: ["the stored value is kept only while the url stays on its server"]}})
    return sealed


def shown(stored: dict[str, Any]) -> dict[str, Any]:
    """A stored tool config as responses show it: its headers masked."""
    config = {key: value for key, value in stored.items() if key != STORED}
    config["headers"] = {name: MASK for name in stored.get(STORED) or {}}
    return config


def opened(stored: dict[str, Any], encryptor: Encryptor) -> dict[str, str]:
    """The stored headers in clear, to send."""
    return {name: encryptor.decrypt(value) for name, value in (stored.get(STORED) or {}).items()}
