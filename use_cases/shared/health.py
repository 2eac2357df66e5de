"""Service health: is the database reachable, what else is ready."""
from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

from use_cases.shared.ports import DatabaseProbe


@dataclass
class HealthReport:
    healthy: bool
    database: dict
    extra: dict = field(default_factory=dict)


class CheckHealth:
    def __init__(self, database: DatabaseProbe, details: dict[str, Callable[[], object]] | None = None):
        self.database = database
        self.details = details or {}
        self.started = time.monotonic()

    def execute(self, detailed: bool = False) -> HealthReport:
        try:
            database = {"status": "up", "latency_ms": round(self.database.ping_ms(), 2)}
        except Exception as error:  # any driver failure means "down" here
            database = {"status": "down", "error": type(error).__name__}
        extra = {}
        if detailed:
            extra = {name: probe() for name, probe in self.details.items()}
            extra["uptime_s"] = round(time.monotonic() - self.started, 1)
        return HealthReport(database["status"] == "up", database, extra)
