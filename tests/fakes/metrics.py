"""The fake of the metrics port (use_cases/metrics/ports.py)."""
from __future__ import annotations

from use_cases.metrics.ports import Metrics


class FakeMetrics(Metrics):
    """Keeps every count in `calls`."""

    def __init__(self):
        self.calls: list[tuple] = []

    def llm_call(self, record):
        self.calls.append(("llm", record.model, record.status))

    def gateway_overhead(self, api, streamed, seconds):
        self.calls.append(("overhead", api, streamed))

    def budget_refusal(self, scope):
        self.calls.append(("budget", scope))

    def workflow_run(self, status):
        self.calls.append(("workflow", status))

    def http_request(self, method, route, status, seconds):
        self.calls.append(("http", route, status))

    def stream_opened(self, route):
        self.calls.append(("open", route))

    def stream_closed(self, route):
        self.calls.append(("close", route))

    def exposition(self):
        return b"", "text/plain"
