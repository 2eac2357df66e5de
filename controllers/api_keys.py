"""/api/v1/workspaces/{id}/api-keys: workspace API keys for the OpenAI-compatible routes (admin+)."""
from __future__ import annotations

from dataclasses import asdict

from flask_smorest import Blueprint

from controllers.deps import use_cases
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
    """The workspace's live keys, newest first (never the keys themselves)."""
    return [key_body(key) for key in use_cases().api_keys.list(current_actor(), workspace_id)]


@blp.post("/<workspace_id>/api-keys")
@authenticated
@blp.arguments(ApiKeyCreateSchema)
@blp.response(201, ApiKeyCreatedSchema)
def create_api_key(body, workspace_id):
    """`key` is the full `sk-syn-...` secret, shown this once. Present it as
    `Authorization: Bearer sk-syn-...` to /v1: it acts in this workspace with member rights."""
    key, secret = use_cases().api_keys.create(current_actor(), workspace_id, **body)
    return {**key_body(key), "key": secret}


@blp.delete("/<workspace_id>/api-keys/<key_id>")
@authenticated
@blp.response(204)
def revoke_api_key(workspace_id, key_id):
    """The key stops working at once on this server process, within seconds on the others."""
    use_cases().api_keys.revoke(current_actor(), workspace_id, key_id)
