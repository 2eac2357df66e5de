"""Interfaces the analytics use cases need.

Real implementations live in repositories/ and adapters/; unit tests use in-memory fakes.
"""
from __future__ import annotations

from abc import ABC, abstractmethod

from entities.usage_report import UsageQuery, UsageReport


class UsageStatistics(ABC):
    @abstractmethod
    def report(self, query: UsageQuery) -> UsageReport:
        """Usage records in the query's range grouped by its key (days ascending; models and
        users by cost, highest first), with totals."""
