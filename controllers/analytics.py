"""/api/v1/analytics: model usage grouped by day, model or user."""
from __future__ import annotations

from dataclasses import asdict

from flask_smorest import Blueprint

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
    """Workspace admins and owners see their workspace; global admins and analysts any
    workspace, or every workspace when `workspace_id` is omitted. Every model call counts
    (talks, /api/v1/llm, /v1, workflows), answered or failed (`errors`)."""
    report = use_cases().analytics.usage(current_actor(), **query)
    return {"items": [asdict(item) for item in report.items], "totals": asdict(report.totals),
            "group_by": report.query.group_by, "workspace_id": report.query.workspace_id,
            "since": report.query.since, "until": report.query.until}
