from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import Enum


class WorkspaceRole(str, Enum):
    VIEWER = "viewer"
    MEMBER = "member"
    ADMIN = "admin"
    OWNER = "owner"

    @property
    def rank(self) -> int:
        return _RANK[self]

    def at_least(self, other: WorkspaceRole) -> bool:
        return self.rank >= other.rank


_RANK = {WorkspaceRole.VIEWER: 0, WorkspaceRole.MEMBER: 1, WorkspaceRole.ADMIN: 2,
         WorkspaceRole.OWNER: 3}


@dataclass
class WorkspaceSettings:
    default_model: str | None = None
    system_prompt: str | None = None
    monthly_budget_usd: float | None = None
    member_monthly_budget_usd: float | None = None  # each member's, unless their membership says
    budget_alert_thresholds: list[float] | None = None  # fractions of a budget; None: 0.5, 0.8, 1


@dataclass
class Workspace:
    id: str
    name: str
    owner_id: str
    description: str = ""
    settings: WorkspaceSettings = field(default_factory=WorkspaceSettings)
    is_personal: bool = False
    deleted_at: datetime | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None


@dataclass
class Membership:
    workspace_id: str
    user_id: str
    role: WorkspaceRole
    joined_at: datetime | None = None
    monthly_budget_usd: float | None = None  # None: the workspace's member_monthly_budget_usd
