"""Usage analytics: who may see which workspace's model usage, over which range."""
from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

from entities.actor import Actor
from entities.clock import utcnow
from entities.errors import NotFound, ValidationFailed
from entities.usage_report import GROUPINGS, UsageQuery, UsageReport
from entities.workspace import WorkspaceRole
from use_cases.analytics.ports import UsageStatistics
from use_cases.workspaces.access import WorkspaceAccess
from use_cases.workspaces.ports import WorkspaceRepository

DEFAULT_RANGE = timedelta(days=30)
MAX_RANGE = timedelta(days=400)


class UsageAnalytics:
    def __init__(self, statistics: UsageStatistics, access: WorkspaceAccess,
                 workspaces: WorkspaceRepository, clock: Callable[[], datetime] = utcnow):
        self.statistics = statistics
        self.access = access
        self.workspaces = workspaces
        self.clock = clock

    def usage(self, actor: Actor, workspace_id: str | None = None, since: datetime | None = None,
              until: datetime | None = None, group_by: str = "day") -> UsageReport:
        """Global admins and analysts: any workspace, or all of them without `workspace_id`.
        Everyone else: a workspace where they are admin or owner (their personal one by
        default); members and viewers get Forbidden, non-members NotFound."""
        if group_by not in GROUPINGS:
            raise ValidationFailed("Unknown grouping", {"group_by": [f"One of {', '.join(GROUPINGS)}."]})
        until = until or self.clock()
        since = since or until - DEFAULT_RANGE
        if since >= until:
            raise ValidationFailed("The range is empty", {"from": ["Must be before `to`."]})
        if until - since > MAX_RANGE:
            raise ValidationFailed("The range is too long",
                                   {"from": [f"At most {MAX_RANGE.days} days before `to`."]})
        if actor.is_analyst:
            if workspace_id is not None and self.workspaces.get(workspace_id, include_deleted=True) is None:
                raise NotFound("Workspace not found")
        else:
            workspace_id = self.access.require(actor.user_id, workspace_id,
                                               WorkspaceRole.ADMIN).workspace_id
        return self.statistics.report(UsageQuery(workspace_id, since, until, group_by))
