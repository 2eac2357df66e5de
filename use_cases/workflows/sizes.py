"""The size of a value as JSON, measured without ever building more than a limit of it.

A node's config may name one node's output many times (`["{{ fetch.output }}", ...]`) and a
JSONPath result may hold one object many times (`$..*`): Python shares those objects, but their
JSON repeats each of them in full, so `len(json.dumps(value))` can ask the API process for
gigabytes. `json_size` streams the encoding and stops once it passes the limit.
"""
from __future__ import annotations

import json
from typing import Any

from entities.errors import LimitExceeded

_ENCODER = json.JSONEncoder(default=str)


def json_size(value: Any, limit: int) -> int:
    """The length of `json.dumps(value, default=str)`, or some number over `limit` once the count
    passes it (the encoding stops there). A value nested deeper than Python recurses counts as
    over `limit`."""
    size = 0
    try:
        for chunk in _ENCODER.iterencode(value):
            size += len(chunk)
            if size > limit:
                break
    except RecursionError:
        return limit + 1
    return size


class SizeBudget:
    """Bytes of JSON left to spend on the values resolved into one node's config."""

    def __init__(self, limit: int):
        self.limit = limit
        self.left = limit

    def spend(self, value: Any) -> None:
        """Counts `value`; LimitExceeded (`output_too_large`) once the budget is spent."""
        self.left -= json_size(value, self.left)
        if self.left < 0:
            raise LimitExceeded(f"the node's config, its expressions resolved, is over the limit "
                                f"of {self.limit} bytes", "output_too_large")
