from marshmallow import Schema, fields, validate

from controllers.schemas.common import IdempotentBodySchema, UtcDateTime
from entities.webhook import WEBHOOK_EVENTS


class WebhookCreateSchema(IdempotentBodySchema):
    url = fields.Url(required=True, schemes={"http", "https"}, require_tld=False,
                     validate=validate.Length(max=2048))
    events = fields.List(fields.String(validate=validate.OneOf(WEBHOOK_EVENTS)), required=True,
                         validate=validate.Length(min=1, max=len(WEBHOOK_EVENTS)))


class WebhookSchema(Schema):
    id = fields.String(required=True)
    workspace_id = fields.String(required=True)
    url = fields.String(required=True)
    events = fields.List(fields.String(), required=True)
    created_by = fields.String(required=True)
    created_at = UtcDateTime(required=True)


class WebhookCreatedSchema(WebhookSchema):
    secret = fields.String(required=True, metadata={
        "description": "The HMAC-SHA256 signing secret, shown this once"})


class DeliverySchema(Schema):
    id = fields.String(required=True, metadata={"description": "The X-SynapScale-Delivery value"})
    event = fields.String(required=True)
    event_id = fields.String(required=True)
    status = fields.String(required=True, metadata={"description": "pending, delivered or failed"})
    status_code = fields.Integer(allow_none=True)
    attempts = fields.Integer(required=True)
    delivered_at = UtcDateTime(allow_none=True)
    next_attempt_at = UtcDateTime(allow_none=True)
    error = fields.String(allow_none=True)
    created_at = UtcDateTime(required=True)
