"""Share links: a read-only snapshot of a talk's current path, readable without logging in."""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime


@dataclass(frozen=True)
class SharedMessage:
    """What a snapshot keeps of a message: no id, no file, no usage (it is public)."""

    role: str
    content: str
    created_at: datetime | None
    model: str | None = None


@dataclass
class Share:
    id: str  # unguessable (128 random bits, URL-safe): the link is the only key to it
    talk_id: str
    user_id: str
    workspace_id: str
    title: str
    messages: list[SharedMessage] = field(default_factory=list)
    created_at: datetime | None = None
    expires_at: datetime | None = None  # None: until revoked
    revoked_at: datetime | None = None

    def readable(self, now: datetime) -> bool:
        return self.revoked_at is None and (self.expires_at is None or self.expires_at > now)
