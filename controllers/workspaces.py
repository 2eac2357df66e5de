"""/api/v1/workspaces: tenants, members, provider keys."""
from __future__ import annotations

from dataclasses import asdict

from flask_smorest import Blueprint

from controllers.deps import use_cases
from controllers.schemas.common import PageQuerySchema, page_body, page_of
from controllers.schemas.workspaces import (
    MemberAddSchema,
    MemberRoleSchema,
    MemberSchema,
    ProviderKeyPutSchema,
    ProviderStatusSchema,
    WorkspaceCreateSchema,
    WorkspaceSchema,
    WorkspaceUpdateSchema,
)
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


@blp.post("")
@authenticated
@blp.arguments(WorkspaceCreateSchema)
@blp.response(201, WorkspaceSchema)
def create_workspace(body):
    return workspace_body(*use_cases().workspaces.create(current_actor(), **body))


@blp.get("/<workspace_id>")
@authenticated
@blp.response(200, WorkspaceSchema)
def get_workspace(workspace_id):
    return workspace_body(*use_cases().workspaces.get(current_actor(), workspace_id))


@blp.patch("/<workspace_id>")
@authenticated
@blp.arguments(WorkspaceUpdateSchema)
@blp.response(200, WorkspaceSchema)
def update_workspace(body, workspace_id):
    """Workspace admins and owners."""
    return workspace_body(*use_cases().workspaces.update(current_actor(), workspace_id, **body))


@blp.delete("/<workspace_id>")
@authenticated
@blp.response(204)
@blp.alt_response(409, description="A personal workspace cannot be deleted")
def delete_workspace(workspace_id):
    """Owners only. Soft delete: `POST /{id}/restore` brings it back."""
    use_cases().workspaces.delete(current_actor(), workspace_id)


@blp.post("/<workspace_id>/restore")
@authenticated
@blp.response(200, WorkspaceSchema)
def restore_workspace(workspace_id):
    """Owners only: undo a delete."""
    return workspace_body(*use_cases().workspaces.restore(current_actor(), workspace_id))


@blp.get("/<workspace_id>/members")
@authenticated
@blp.response(200, MemberSchema(many=True))
def list_members(workspace_id):
    return use_cases().workspaces.members(current_actor(), workspace_id)


@blp.post("/<workspace_id>/members")
@authenticated
@blp.arguments(MemberAddSchema)
@blp.response(201, MemberSchema)
@blp.alt_response(404, description="No user with this e-mail")
@blp.alt_response(409, description="Already a member")
def add_member(body, workspace_id):
    """Workspace admins and owners; only an owner can add another owner."""
    return use_cases().workspaces.add_member(current_actor(), workspace_id, body["email"],
                                             body["role"])


@blp.patch("/<workspace_id>/members/<user_id>")
@authenticated
@blp.arguments(MemberRoleSchema)
@blp.response(200, MemberSchema)
@blp.alt_response(409, description="The workspace would have no owner left")
def change_member_role(body, workspace_id, user_id):
    """Workspace admins and owners; only an owner can grant or remove `owner`."""
    return use_cases().workspaces.change_member_role(current_actor(), workspace_id, user_id,
                                                     body["role"])


@blp.delete("/<workspace_id>/members/<user_id>")
@authenticated
@blp.response(204)
@blp.alt_response(409, description="The workspace would have no owner left")
def remove_member(workspace_id, user_id):
    """Workspace admins and owners, or any member removing themselves."""
    use_cases().workspaces.remove_member(current_actor(), workspace_id, user_id)


@blp.get("/<workspace_id>/providers")
@authenticated
@blp.response(200, ProviderStatusSchema(many=True))
def list_provider_keys(workspace_id):
    """Workspace admins and owners. Keys are never returned, only a hint."""
    return use_cases().provider_keys.list(current_actor(), workspace_id)


@blp.put("/<workspace_id>/providers/<provider>")
@authenticated
@blp.arguments(ProviderKeyPutSchema)
@blp.response(200, ProviderStatusSchema)
def put_provider_key(body, workspace_id, provider):
    """Workspace admins and owners. The key is stored encrypted; the answer shows its hint."""
    return use_cases().provider_keys.put(current_actor(), workspace_id, provider,
                                         body.get("api_key"), body.get("api_base"))


@blp.delete("/<workspace_id>/providers/<provider>")
@authenticated
@blp.response(204)
def delete_provider_key(workspace_id, provider):
    use_cases().provider_keys.delete(current_actor(), workspace_id, provider)
