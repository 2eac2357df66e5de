"""What every import format is, and the small readers they share.

A format is one class (`ConversationFormat`) registered in `formats/__init__.py`: `detects(raw)`
says whether one parsed conversation object is its own, `convert(raw)` turns it into an
`ImportedConversation`. Converters read untrusted input: every field may be missing or of the
wrong type; ValidationFailed says what is wrong with a conversation (it fails alone).
"""
from __future__ import annotations

from abc import ABC, abstractmethod
from datetime import UTC, datetime

from entities.errors import ValidationFailed
from entities.talk_import import ImportedConversation

ROLES = {"user": "user", "human": "user", "assistant": "assistant", "system": "system",
         "model": "assistant", "ai": "assistant", "bot": "assistant"}
# about 9999-12-31 in seconds: epoch values beyond it are milliseconds
MAX_EPOCH_SECONDS = 253_402_300_799


class ConversationFormat(ABC):
    name: str = ""

    @abstractmethod
    def detects(self, raw: dict) -> bool:
        """Whether this conversation object looks like this format's."""

    @abstractmethod
    def convert(self, raw: dict) -> ImportedConversation:
        """The conversation; ValidationFailed when it cannot be read."""


def as_text(value: object, default: str = "") -> str:
    return value if isinstance(value, str) else default


def as_list(value: object) -> list:
    """The value when it is a list, else an empty one (a field of the wrong type is absent)."""
    return value if isinstance(value, list) else []


def as_id(value: object) -> str | None:
    """An id as a string (numbers accepted), None when absent or empty."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float | str) and str(value):
        return str(value)
    return None


def required_id(raw: dict, *keys: str) -> str:
    for key in keys:
        found = as_id(raw.get(key))
        if found:
            return found[:200]
    raise ValidationFailed(f"The conversation has no id ({' or '.join(keys)})")


def as_time(value: object) -> datetime | None:
    """Epoch seconds or milliseconds (number or numeric string), or an ISO 8601 string, as an
    aware UTC datetime; None when absent or unreadable."""
    if isinstance(value, bool) or value is None:
        return None
    try:
        digits = isinstance(value, str) and value.strip().replace(".", "", 1).isdigit()
        if isinstance(value, int | float | str) and (digits or not isinstance(value, str)):
            seconds = float(value)
        elif isinstance(value, str):
            parsed = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
            return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
        else:
            return None
        if seconds > MAX_EPOCH_SECONDS:
            seconds /= 1000
        return datetime.fromtimestamp(seconds, UTC)
    except (ValueError, OverflowError, OSError):
        return None


def role_of(value: object) -> str | None:
    return ROLES.get(as_text(value).lower())


def messages_list(raw: dict, key: str) -> list:
    value = raw.get(key)
    if value is None:
        return []
    if not isinstance(value, list):
        raise ValidationFailed(f"`{key}` is not a list")
    return value
