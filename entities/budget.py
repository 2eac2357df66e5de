"""Monthly spend, counted per workspace, API key and workspace member, against their budgets."""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import Enum


class SpendScope(str, Enum):
    WORKSPACE = "workspace"
    API_KEY = "api_key"
    MEMBER = "member"  # ref_id "<workspace_id>:<user_id>"


def member_ref(workspace_id: str, user_id: str) -> str:
    return f"{workspace_id}:{user_id}"


@dataclass(frozen=True)
class Counter:
    """One spend counter: a scope's spend in one calendar month."""

    scope: SpendScope
    ref_id: str
    month: str


@dataclass(frozen=True)
class Hold:
    """Part of a reservation: `amount` USD held on one budgeted counter until settled."""

    counter: Counter
    amount: float
    budget_usd: float


@dataclass(frozen=True)
class Reservation:
    """The worst-case cost of one model call, held against every budget that applies
    (`holds`), and every counter its actual cost will be added to (`counters`)."""

    id: str
    counters: tuple[Counter, ...]
    holds: tuple[Hold, ...] = field(default_factory=tuple)
    expires_at: datetime | None = None  # after this, its holds may have been released


@dataclass(frozen=True)
class SpendTotals:
    spent_usd: float = 0.0  # settled
    reserved_usd: float = 0.0  # held by calls in flight


def month_of(moment: datetime) -> str:
    """The calendar month (UTC) a cost belongs to: "2026-01"."""
    return f"{moment.year:04d}-{moment.month:02d}"
