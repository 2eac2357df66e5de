"""Usage analytics: model calls grouped by day, model or user over a time range."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

GROUPINGS = ("day", "model", "user")


@dataclass(frozen=True)
class UsageQuery:
    workspace_id: str | None  # None: every workspace
    since: datetime  # inclusive
    until: datetime  # exclusive
    group_by: str  # one of GROUPINGS


@dataclass(frozen=True)
class UsageTotals:
    requests: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float = 0.0
    avg_latency_ms: float = 0.0
    errors: int = 0


@dataclass(frozen=True)
class UsageGroup(UsageTotals):
    key: str | None = None  # the day ("2026-01-31"), the model id or the user id


@dataclass(frozen=True)
class UsageReport:
    query: UsageQuery
    items: list[UsageGroup]
    totals: UsageTotals
