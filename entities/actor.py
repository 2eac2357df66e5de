from __future__ import annotations

from dataclasses import dataclass

from entities.user import GlobalRole


@dataclass(frozen=True)
class Actor:
    """Who is calling: from a verified access token (or, on /v1, a workspace API key)."""

    user_id: str
    role: GlobalRole = GlobalRole.USER
    session_id: str | None = None
    api_key_id: str | None = None
    api_key_workspace_id: str | None = None
    ip: str | None = None  # the client address, for the audit log

    @property
    def is_admin(self) -> bool:
        return self.role == GlobalRole.ADMIN

    @property
    def is_analyst(self) -> bool:
        return self.role in (GlobalRole.ADMIN, GlobalRole.ANALYST)
