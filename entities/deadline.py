"""A point in time by which a piece of work must end, and whether it was called off before."""
from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass


def _never() -> bool:
    return False


@dataclass(frozen=True)
class Deadline:
    at: float  # time.monotonic() seconds
    cancelled: Callable[[], bool] = _never

    @classmethod
    def after(cls, seconds: float, cancelled: Callable[[], bool] = _never) -> Deadline:
        return cls(time.monotonic() + seconds, cancelled)

    def remaining(self) -> float:
        """Seconds left, never below 0."""
        return max(self.at - time.monotonic(), 0.0)
