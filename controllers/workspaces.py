"""/api/v1/workspaces: tenants, members, provider keys."""
from __future__ import annotations

from dataclasses import asdict

from flask_smorest import Blueprint

from controllers.deps import use_cases
from controllers.schemas.common import PageQuerySchema, page_body, page_of
from controllers.schemas.workspaces import WorkspaceSchema
from controllers.security import authenticated, current_actor
from entities.pagination import PageRequest

blp = Blueprint("workspaces", __name__, url_prefix="/api/v1/workspaces",
                description="Workspaces, members and provider keys")


def workspace_body(workspace, role) -> dict:
    return {**asdict(workspace), "role": role.value}


@blp.get("")
@authenticated
@blp.arguments(PageQuerySchema, location="query")
@blp.response(200, page_of(WorkspaceSchema))
def list_workspaces(query):
    page = use_cases().workspaces.list_mine(current_actor(), PageRequest(**query))
    body = page_body(page)
    body["items"] = [workspace_body(workspace, role) for workspace, role in page.items]
    return body
