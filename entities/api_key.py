"""Workspace API keys: what scripts and chat UIs present to the OpenAI-compatible routes."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

KEY_PREFIX = "sk-syn-"


@dataclass(frozen=True)
class ApiKey:
    """A key as stored: only the SHA-256 of the secret and a printable hint, never the secret."""

    id: str
    workspace_id: str
    name: str
    key_hash: str
    key_hint: str
    created_by: str
    created_at: datetime | None = None
    expires_at: datetime | None = None
    monthly_budget_usd: float | None = None
    last_used_at: datetime | None = None
    revoked_at: datetime | None = None

    def expired(self, now: datetime) -> bool:
        return self.expires_at is not None and self.expires_at <= now
