"""/api/v1/workspaces: tenants, members, provider keys."""
from __future__ import annotations

from dataclasses import asdict

from controllers.blueprint import Blueprint
from controllers.deps import use_cases
from controllers.idempotency import idempotent
from controllers.schemas.common import PageQuerySchema, page_body, page_of
from controllers.schemas.workspaces import (
    MemberAddSchema,
    MemberSchema,
    MemberUpdateSchema,
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
    """Workspaces the caller belongs to

    Query `page`, `size` (1 to 100). 200 page of `{id, name, description, settings, is_personal,
    role, created_at, updated_at}`, `role` being the caller's; the personal workspace first, then
    the oldest first. Deleted workspaces are left out.

    401 without a valid access token."""
    page = use_cases().workspaces.list_mine(current_actor(), PageRequest(**query))
    body = page_body(page)
    body["items"] = [workspace_body(workspace, role) for workspace, role in page.items]
    return body


@blp.post("")
@authenticated
@blp.arguments(WorkspaceCreateSchema)
@idempotent
@blp.response(201, WorkspaceSchema)
def create_workspace(body):
    """Create a workspace

    Body `{name, description?, settings?: {default_model, system_prompt, monthly_budget_usd}}` (the
    budget in US dollars per calendar month). 201 with the workspace; the caller is its owner
    (`role: "owner"`).

    With an `Idempotency-Key` header (or `client_message_id` in the body), a repeat within 24 h
    creates nothing and gets the first answer; the same key with another body is 409
    `idempotency_conflict`.

    422 for invalid fields; 401 without a valid access token."""
    return workspace_body(*use_cases().workspaces.create(current_actor(), **body))


@blp.get("/<workspace_id>")
@authenticated
@blp.response(200, WorkspaceSchema)
def get_workspace(workspace_id):
    """One workspace, with the caller's role

    Any member (viewer and up). 200 `{id, name, description, settings, is_personal, role,
    created_at, updated_at}`.

    404 for a non-member or a deleted workspace (never 403 for another tenant's workspace)."""
    return workspace_body(*use_cases().workspaces.get(current_actor(), workspace_id))


@blp.patch("/<workspace_id>")
@authenticated
@blp.arguments(WorkspaceUpdateSchema)
@blp.response(200, WorkspaceSchema)
def update_workspace(body, workspace_id):
    """Change a workspace's name, description or settings

    Workspace admins and owners. Body `{name?, description?, settings?}`: `settings`
    (`default_model`, `system_prompt`, `monthly_budget_usd` in US dollars) is merged into the
    current settings, a null clearing a value. 200 with the workspace.

    403 for members and viewers; 404 for non-members; 422 for invalid fields."""
    return workspace_body(*use_cases().workspaces.update(current_actor(), workspace_id, **body))


@blp.delete("/<workspace_id>")
@authenticated
@blp.response(204)
@blp.alt_response(409, description="A personal workspace cannot be deleted")
def delete_workspace(workspace_id):
    """Delete a workspace (soft)

    Owners only. Soft delete: `POST /{id}/restore` brings it back. 204; the workspace vanishes from
    every read.

    403 for the other roles; 404 for non-members; 409 for a personal workspace."""
    use_cases().workspaces.delete(current_actor(), workspace_id)


@blp.post("/<workspace_id>/restore")
@authenticated
@blp.response(200, WorkspaceSchema)
def restore_workspace(workspace_id):
    """Restore a deleted workspace

    Owners only: undo a delete. 200 with the workspace (also when it was not deleted).

    403 for the other roles; 404 for non-members."""
    return workspace_body(*use_cases().workspaces.restore(current_actor(), workspace_id))


@blp.get("/<workspace_id>/members")
@authenticated
@blp.response(200, MemberSchema(many=True))
def list_members(workspace_id):
    """Members of a workspace

    Any member. 200 `[{user_id, email, name, role, joined_at}]`, in the order they joined.

    404 for non-members."""
    return use_cases().workspaces.members(current_actor(), workspace_id)


@blp.post("/<workspace_id>/members")
@authenticated
@blp.arguments(MemberAddSchema)
@blp.response(201, MemberSchema)
@blp.alt_response(404, description="No user with this e-mail")
@blp.alt_response(409, description="Already a member")
def add_member(body, workspace_id):
    """Add a user to a workspace

    Workspace admins and owners; only an owner can add another owner. Body `{email, role?}`
    (`owner`, `admin`, `member` (default) or `viewer`). 201 `{user_id, email, name, role,
    joined_at}`; a `member.added` event goes to the workspace's webhooks and the user's feed.

    403 for a role too low; 404 for non-members or when no user has this e-mail; 409 when the user
    is already a member."""
    return use_cases().workspaces.add_member(current_actor(), workspace_id, body["email"],
                                             body["role"])


@blp.patch("/<workspace_id>/members/<user_id>")
@authenticated
@blp.arguments(MemberUpdateSchema)
@blp.response(200, MemberSchema)
@blp.alt_response(409, description="The workspace would have no owner left")
def change_member_role(body, workspace_id, user_id):
    """Change a member's role or monthly budget

    Workspace admins and owners; only an owner can grant or remove `owner`. Body `{role?,
    monthly_budget_usd?}` (at least one): `role` is `owner`, `admin`, `member` or `viewer`;
    `monthly_budget_usd` is the member's own budget in USD per calendar month (null: the
    workspace's `settings.member_monthly_budget_usd`), applied from their next model call. 200
    `{user_id, email, name, role, joined_at, monthly_budget_usd}`.

    403 for a role too low; 404 for non-members or an unknown member; 409 when the workspace would
    have no owner left; 422 for an empty body or a negative budget."""
    actor = current_actor()
    workspaces = use_cases().workspaces
    member = None
    if "role" in body:
        member = workspaces.change_member_role(actor, workspace_id, user_id, body["role"])
    if "monthly_budget_usd" in body:
        member = workspaces.set_member_budget(actor, workspace_id, user_id,
                                              body["monthly_budget_usd"])
    return member


@blp.delete("/<workspace_id>/members/<user_id>")
@authenticated
@blp.response(204)
@blp.alt_response(409, description="The workspace would have no owner left")
def remove_member(workspace_id, user_id):
    """Remove a member, or leave a workspace

    Workspace admins and owners, or any member removing themselves; only an owner can remove an
    owner. 204.

    403 for a role too low; 404 for non-members or an unknown member; 409 when the workspace would
    have no owner left."""
    use_cases().workspaces.remove_member(current_actor(), workspace_id, user_id)


@blp.get("/<workspace_id>/providers")
@authenticated
@blp.response(200, ProviderStatusSchema(many=True))
def list_provider_keys(workspace_id):
    """Model provider keys of a workspace

    Workspace admins and owners. Keys are never returned, only a hint. 200 `[{provider, configured,
    key_hint, api_base, updated_at}]` for every known provider, configured or not, and any other
    provider the workspace has a key for.

    403 for members and viewers; 404 for non-members."""
    return use_cases().provider_keys.list(current_actor(), workspace_id)


@blp.put("/<workspace_id>/providers/<provider>")
@authenticated
@blp.arguments(ProviderKeyPutSchema)
@blp.response(200, ProviderStatusSchema)
def put_provider_key(body, workspace_id, provider):
    """Set a workspace's key for a model provider

    Workspace admins and owners. The key is stored encrypted; the answer shows its hint. Body
    `{api_key?, api_base?}`, at least one of them (`api_base` alone suits a keyless
    OpenAI-compatible server such as Ollama). 200 `{provider, configured, key_hint, api_base,
    updated_at}`; the workspace's model calls use it from then on.

    403 for a role too low; 404 for non-members; 422 for a bad provider name, neither field, or an
    `api_base` the outbound-address rules refuse."""
    return use_cases().provider_keys.put(current_actor(), workspace_id, provider,
                                         body.get("api_key"), body.get("api_base"))


@blp.delete("/<workspace_id>/providers/<provider>")
@authenticated
@blp.response(204)
def delete_provider_key(workspace_id, provider):
    """Remove a workspace's key for a provider

    Workspace admins and owners. 204; the workspace's model calls no longer use it.

    403 for a role too low; 404 for non-members or when no key is stored for this provider."""
    use_cases().provider_keys.delete(current_actor(), workspace_id, provider)
