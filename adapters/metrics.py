"""Prometheus metrics (prometheus-client), correct under several gunicorn workers.

With PROMETHEUS_MULTIPROC_DIR set (gunicorn.conf.py sets it up), prometheus-client keeps every
worker's values in memory-mapped files in that directory and `exposition()` merges the files of
all workers, so any worker answers /metrics for the whole server. Without it (the development
server, tests), each app keeps its own registry.
"""
from __future__ import annotations

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    disable_created_metrics,
    generate_latest,
    multiprocess,
)

from entities.llm import UsageRecord
from use_cases.metrics.ports import Metrics

NAMESPACE = "synapscale"
HTTP_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)
LLM_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 20, 30, 60, 120)
OVERHEAD_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1)


class PrometheusMetrics(Metrics):
    def __init__(self, multiprocess_dir: str | None = None):
        disable_created_metrics()  # the *_created series only double the output
        self.multiprocess_dir = multiprocess_dir or None
        self.registry = CollectorRegistry(auto_describe=True)
        options: dict = {"namespace": NAMESPACE, "registry": self.registry}
        self.http_requests = Counter(
            "http_requests", "HTTP requests by route template and status",
            ["method", "route", "status"], **options)
        self.http_latency = Histogram(
            "http_request_duration_seconds", "Time to the response headers, by route template",
            ["method", "route"], buckets=HTTP_BUCKETS, **options)
        self.llm_requests = Counter(
            "llm_requests", "Model calls by requested-or-answering model, status and source",
            ["model", "status", "source"], **options)
        self.llm_tokens = Counter(
            "llm_tokens", "Tokens by model, status and kind (prompt or completion)",
            ["model", "status", "kind"], **options)
        self.llm_cost = Counter(
            "llm_cost_usd", "Cost in US dollars by model and status", ["model", "status"],
            **options)
        self.llm_latency = Histogram(
            "llm_request_duration_seconds", "Model call duration by model and status",
            ["model", "status"], buckets=LLM_BUCKETS, **options)
        self.llm_fallbacks = Counter(
            "llm_fallbacks", "Model calls answered by a fallback, by requested and answering model",
            ["requested", "answered"], **options)
        self.llm_ttft = Histogram(
            "llm_time_to_first_token_seconds", "Time to the first streamed token, by model",
            ["model"], buckets=LLM_BUCKETS, **options)
        self.active_streams = Gauge(
            "active_streams", "Streaming responses (SSE) open now, by route",
            ["route"], multiprocess_mode="livesum", **options)
        self.overhead = Histogram(
            "gateway_overhead_seconds",
            "Time added to a model call by the service (request handling minus provider time)",
            ["api", "stream"], buckets=OVERHEAD_BUCKETS, **options)
        self.workflow_runs = Counter(
            "workflow_runs", "Finished workflow executions by status", ["status"], **options)
        self.budget_refusals = Counter(
            "budget_refusals", "Model calls refused (402) because a monthly budget is spent, by "
            "the budget's scope (workspace, api_key or member)", ["scope"], **options)

    def llm_call(self, record: UsageRecord) -> None:
        model, status = record.model, record.status
        self.llm_requests.labels(model, status, record.source).inc()
        self.llm_tokens.labels(model, status, "prompt").inc(record.prompt_tokens)
        self.llm_tokens.labels(model, status, "completion").inc(record.completion_tokens)
        self.llm_cost.labels(model, status).inc(record.cost_usd)
        self.llm_latency.labels(model, status).observe(record.latency_ms / 1000)
        if record.ttft_ms is not None:
            self.llm_ttft.labels(model).observe(record.ttft_ms / 1000)
        if record.fallback_from:
            self.llm_fallbacks.labels(record.fallback_from, model).inc()

    def budget_refusal(self, scope: str) -> None:
        self.budget_refusals.labels(scope).inc()

    def gateway_overhead(self, api: str, streamed: bool, seconds: float) -> None:
        self.overhead.labels(api, "true" if streamed else "false").observe(max(0.0, seconds))

    def workflow_run(self, status: str) -> None:
        self.workflow_runs.labels(status).inc()

    def http_request(self, method: str, route: str, status: int, seconds: float) -> None:
        self.http_requests.labels(method, route, str(status)).inc()
        self.http_latency.labels(method, route).observe(seconds)

    def stream_opened(self, route: str) -> None:
        self.active_streams.labels(route).inc()

    def stream_closed(self, route: str) -> None:
        self.active_streams.labels(route).dec()

    def exposition(self) -> tuple[bytes, str]:
        registry = self.registry
        if self.multiprocess_dir:
            registry = CollectorRegistry()
            multiprocess.MultiProcessCollector(registry, path=self.multiprocess_dir)
        return generate_latest(registry), CONTENT_TYPE_LATEST
