"""Monthly spend, counted per workspace and per API key, against their budgets."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import Enum


class SpendScope(str, Enum):
    WORKSPACE = "workspace"
    API_KEY = "api_key"


def month_of(moment: datetime) -> str:
    """The calendar month (UTC) a cost belongs to: "2026-01"."""
    return f"{moment.year:04d}-{moment.month:02d}"


@dataclass(frozen=True)
class SpendIncrement:
    scope: SpendScope
    ref_id: str
    month: str
    cost_usd: float
    requests: int
