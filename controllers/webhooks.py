"""/api/v1/workspaces/{id}/webhooks: registration, removal and the delivery log (admin+)."""
from __future__ import annotations

from dataclasses import asdict

from controllers.blueprint import Blueprint
from controllers.deps import use_cases
from controllers.idempotency import idempotent
from controllers.schemas.common import PageQuerySchema, page_body, page_of
from controllers.schemas.webhooks import (
    DeliverySchema,
    WebhookCreatedSchema,
    WebhookCreateSchema,
    WebhookSchema,
)
from controllers.security import authenticated, current_actor
from entities.pagination import PageRequest

blp = Blueprint("webhooks", __name__, url_prefix="/api/v1/workspaces",
                description="Webhooks: signed POSTs of workspace events, retried with backoff")


def webhook_body(webhook) -> dict:
    body = asdict(webhook)
    body.pop("encrypted_secret")
    return body


@blp.get("/<workspace_id>/webhooks")
@authenticated
@blp.response(200, WebhookSchema(many=True))
def list_webhooks(workspace_id):
    """Webhooks of a workspace

    Workspace admins and owners. 200 `[{id, workspace_id, url, events, created_by, created_at}]`,
    oldest first; the signing secret is never shown again.

    403 for a role too low; 404 for non-members."""
    return [webhook_body(w) for w in use_cases().webhooks.list(current_actor(), workspace_id)]


@blp.post("/<workspace_id>/webhooks")
@authenticated
@blp.arguments(WebhookCreateSchema)
@idempotent(secret=True)
@blp.response(201, WebhookCreatedSchema)
@blp.alt_response(409, description="The workspace has its maximum number of webhooks")
def create_webhook(body, workspace_id):
    """Register a webhook

    Workspace admins and owners. Body `{url, events}`, events among `talk.created`,
    `message.created`, `file.uploaded`, `workflow.execution.completed`, `workflow.execution.failed`
    and `member.added`. 201 with the webhook and its signing `secret` (`whsec_...`), shown this
    once.

    Deliveries are POSTs of `{id, event, workspace_id, created_at, data}` signed with
    `X-SynapScale-Signature: sha256=<HMAC-SHA256 of the raw body>`, retried with exponential backoff
    on failure. The URL must be public (the rules of the workflow `http_request` node).

    With an `Idempotency-Key` header (or `client_message_id` in the body), a repeat within 24 h
    creates nothing and gets the first answer, secret included (kept encrypted meanwhile);
    the same key with another body is 409 `idempotency_conflict`.

    403 for a role too low; 404 for non-members; 409 when the workspace has its maximum number of
    webhooks (WEBHOOK_MAX_PER_WORKSPACE, 20 by default); 422 for a refused URL or unknown events."""
    webhook, secret = use_cases().webhooks.create(current_actor(), workspace_id, **body)
    return {**webhook_body(webhook), "secret": secret}


@blp.delete("/<workspace_id>/webhooks/<webhook_id>")
@authenticated
@blp.response(204)
def delete_webhook(workspace_id, webhook_id):
    """Remove a webhook

    Workspace admins and owners. 204; its pending deliveries are not sent.

    403 for a role too low; 404 for non-members or an unknown webhook."""
    use_cases().webhooks.delete(current_actor(), workspace_id, webhook_id)


@blp.get("/<workspace_id>/webhooks/<webhook_id>/deliveries")
@authenticated
@blp.arguments(PageQuerySchema, location="query")
@blp.response(200, page_of(DeliverySchema))
def list_deliveries(query, workspace_id, webhook_id):
    """Delivery log of a webhook

    Workspace admins and owners. Newest first; every attempt is also written to the log. Query
    `page`, `size`. 200 page of `{id, event, event_id, status: pending|delivered|failed,
    status_code, attempts, delivered_at, next_attempt_at, error, created_at}`.

    403 for a role too low; 404 for non-members or an unknown webhook."""
    page = use_cases().webhooks.deliveries(current_actor(), workspace_id, webhook_id,
                                           PageRequest(**query))
    body = page_body(page)
    body["items"] = [{**asdict(delivery), "status": delivery.status.value}
                     for delivery in page.items]
    return body
