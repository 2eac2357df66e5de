"""Budget alerts (the source documents' "configurable alerts"): when a budget's spend reaches one
of the alert thresholds (`BUDGET_ALERT_THRESHOLDS`, fractions of the budget: 0.5, 0.8, 1.0), a
`budget.threshold_reached` event goes to the workspace's webhooks, to the `/api/v1/ws/user` feed of
its admins and owners and by mail to them, and to the global admins' `/api/v1/ws/global` — once
per budget, threshold and month, whichever worker settles the call that crosses it (the counter
remembers which thresholds it announced).
A workspace sets its own thresholds in `settings.budget_alert_thresholds`.
"""
from __future__ import annotations

import logging

from entities.budget import Hold, SpendTotals
from entities.workspace import WorkspaceRole
from use_cases.gateway.ports import SpendRepository
from use_cases.identity.ports import Mailer, UserRepository
from use_cases.shared import global_feed
from use_cases.shared.ports import EventBus
from use_cases.shared.ttl_cache import TtlCache
from use_cases.workspaces.ports import MembershipRepository, WorkspaceRepository

log = logging.getLogger(__name__)

EVENT = "budget.threshold_reached"
DEFAULT_THRESHOLDS = (0.5, 0.8, 1.0)


class BudgetAlerts:
    def __init__(self, spend: SpendRepository, workspaces: WorkspaceRepository,
                 memberships: MembershipRepository, users: UserRepository, mailer: Mailer,
                 events: EventBus, cache_ttl_s: float = 5.0):
        """`cache_ttl_s`: how long a workspace's thresholds are kept per process (a change is
        announced: `forget`)."""
        self.spend = spend
        self.workspaces = workspaces
        self.memberships = memberships
        self.users = users
        self.mailer = mailer
        self.events = events
        self._thresholds = TtlCache(cache_ttl_s)

    def check(self, workspace_id: str, hold: Hold, totals: SpendTotals) -> None:
        """Announces each threshold this budget's settled spend has reached for the first time."""
        if hold.budget_usd <= 0:
            return
        used = totals.spent_usd / hold.budget_usd
        for threshold in self._thresholds.get_or_load(workspace_id,
                                                      lambda: self._load_thresholds(workspace_id)):
            if used >= threshold and self.spend.mark_alerted(hold.counter, threshold):
                self._announce(workspace_id, hold, totals, threshold)

    def forget(self, workspace_id: str | None, _user_id: str | None = None) -> None:
        """Drops this workspace's cached thresholds (StaleCaches)."""
        if workspace_id:
            self._thresholds.pop(workspace_id)

    def _load_thresholds(self, workspace_id: str) -> list[float]:
        workspace = self.workspaces.get(workspace_id)
        return sorted((workspace.settings.budget_alert_thresholds if workspace else None)
                      or DEFAULT_THRESHOLDS)

    def _announce(self, workspace_id: str, hold: Hold, totals: SpendTotals, threshold: float) -> None:
        counter = hold.counter
        event = {"type": EVENT, "workspace_id": workspace_id, "scope": counter.scope.value,
                 "id": counter.ref_id.rsplit(":", 1)[-1], "threshold": threshold,
                 "budget_usd": hold.budget_usd, "spent_usd": round(totals.spent_usd, 6),
                 "month": counter.month}
        self.events.publish(f"workspace:{workspace_id}", event)  # webhooks
        global_feed.announce(self.events, event)
        subject = f"SynapScale: {threshold:.0%} of a monthly budget used"
        body = (f"The {counter.scope.value} budget of ${hold.budget_usd:g} in workspace "
                f"{workspace_id} has reached {threshold:.0%}: ${totals.spent_usd:.4f} spent in "
                f"{counter.month} (UTC).")
        for membership in self.memberships.list(workspace_id):
            if not membership.role.at_least(WorkspaceRole.ADMIN):
                continue
            self.events.publish(f"user:{membership.user_id}", event)
            user = self.users.get(membership.user_id)
            if user is not None:
                try:
                    self.mailer.send(user.email, subject, body)
                except Exception:
                    log.exception("could not mail a budget alert")
