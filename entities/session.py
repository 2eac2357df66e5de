from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass
class LoginSession:
    """One login: the refresh-token family every token of the login belongs to."""

    id: str
    user_id: str
    refresh_jti: str
    expires_at: datetime
    created_at: datetime | None = None
    last_used_at: datetime | None = None
    user_agent: str | None = None
    ip: str | None = None
    revoked_at: datetime | None = None
