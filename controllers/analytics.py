"""/api/v1/analytics: model usage grouped by day, model or user."""
from __future__ import annotations

from dataclasses import asdict

from controllers.blueprint import Blueprint
from controllers.deps import use_cases
from controllers.schemas.analytics import UsageQuerySchema, UsageReportSchema
from controllers.security import authenticated, current_actor

blp = Blueprint("analytics", __name__, url_prefix="/api/v1/analytics",
                description="Usage analytics: requests, tokens, cost, latency and errors")


@blp.get("/usage")
@authenticated
@blp.arguments(UsageQuerySchema, location="query")
@blp.response(200, UsageReportSchema)
@blp.alt_response(403, description="A member or viewer of the workspace")
@blp.alt_response(404, description="Not a member of the workspace")
def usage(query):
    """Model usage: requests, tokens, cost, latency and errors

    Workspace admins and owners see their workspace; global admins and analysts any workspace, or
    every workspace when `workspace_id` is omitted. Every model call counts (talks, /api/v1/llm,
    /v1, workflows), answered or failed (`errors`).

    Query `from` and `to` (ISO-8601 dates or date-times; default: the 30 days before now, at most
    400 days) and `group_by` (`day`, `model` or `user`). 200 `{items: [{key, requests,
    prompt_tokens, completion_tokens, cost_usd, avg_latency_ms, errors}], totals, group_by,
    workspace_id, from, to}`: cost in US dollars, latency in milliseconds.

    403 for members and viewers; 404 for non-members; 422 for an empty or too long range."""
    report = use_cases().analytics.usage(current_actor(), **query)
    return {"items": [asdict(item) for item in report.items], "totals": asdict(report.totals),
            "group_by": report.query.group_by, "workspace_id": report.query.workspace_id,
            "since": report.query.since, "until": report.query.until}
