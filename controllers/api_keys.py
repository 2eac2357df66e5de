"""/api/v1/workspaces/{id}/api-keys: workspace API keys for the OpenAI-compatible routes (admin+)."""
from __future__ import annotations

from dataclasses import asdict

from controllers.blueprint import Blueprint
from controllers.deps import use_cases
from controllers.idempotency import idempotent
from controllers.schemas.api_keys import ApiKeyCreatedSchema, ApiKeyCreateSchema, ApiKeySchema
from controllers.security import authenticated, current_actor

blp = Blueprint("api_keys", __name__, url_prefix="/api/v1/workspaces",
                description="Workspace API keys (`sk-syn-...`) for /v1, the OpenAI-compatible routes")


def key_body(key) -> dict:
    body = asdict(key)
    body.pop("key_hash")
    body.pop("revoked_at")
    return body


@blp.get("/<workspace_id>/api-keys")
@authenticated
@blp.response(200, ApiKeySchema(many=True))
def list_api_keys(workspace_id):
    """API keys of a workspace

    Workspace admins and owners. The workspace's live keys, newest first (never the keys
    themselves): `[{id, workspace_id, name, key_hint, created_by, created_at, expires_at,
    monthly_budget_usd, last_used_at}]`.

    403 for a role too low; 404 for non-members."""
    return [key_body(key) for key in use_cases().api_keys.list(current_actor(), workspace_id)]


@blp.post("/<workspace_id>/api-keys")
@authenticated
@blp.arguments(ApiKeyCreateSchema)
@idempotent(secret=True)
@blp.response(201, ApiKeyCreatedSchema)
def create_api_key(body, workspace_id):
    """Create a workspace API key

    Workspace admins and owners. Body `{name, expires_at?, monthly_budget_usd?}` (US dollars per
    calendar month). 201 with the key's fields and `key`, the full `sk-syn-...` secret, shown this
    once (only its hash is stored). Present it as `Authorization: Bearer sk-syn-...` to /v1: it acts
    in this workspace with member rights.

    With an `Idempotency-Key` header (or `client_message_id` in the body), a repeat within 24 h
    creates nothing and gets the first answer, secret included (kept encrypted meanwhile);
    the same key with another body is 409 `idempotency_conflict`.

    403 for a role too low; 404 for non-members; 422 for a blank name or an `expires_at` in the
    past."""
    key, secret = use_cases().api_keys.create(current_actor(), workspace_id, **body)
    return {**key_body(key), "key": secret}


@blp.delete("/<workspace_id>/api-keys/<key_id>")
@authenticated
@blp.response(204)
def revoke_api_key(workspace_id, key_id):
    """Revoke a workspace API key

    Workspace admins and owners. 204. The key stops working at once on this server process, within
    seconds on the others.

    403 for a role too low; 404 for non-members or an unknown key."""
    use_cases().api_keys.revoke(current_actor(), workspace_id, key_id)
