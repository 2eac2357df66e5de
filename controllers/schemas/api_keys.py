from datetime import UTC

from marshmallow import Schema, fields, validate

from controllers.schemas.common import IdempotentBodySchema, UtcDateTime


class ApiKeyCreateSchema(IdempotentBodySchema):
    name = fields.String(required=True, validate=validate.Length(min=1, max=120))
    expires_at = fields.AwareDateTime(allow_none=True, default_timezone=UTC, metadata={
        "description": "ISO-8601; the key stops working then. Omitted: never expires"})
    monthly_budget_usd = fields.Float(allow_none=True, validate=validate.Range(min=0), metadata={
        "description": "Spend allowed per calendar month (UTC) through this key; then 402"})


class ApiKeySchema(Schema):
    id = fields.String(required=True)
    workspace_id = fields.String(required=True)
    name = fields.String(required=True)
    key_hint = fields.String(required=True, metadata={"description": "e.g. sk-syn-...abcd"})
    created_by = fields.String(required=True)
    created_at = UtcDateTime(required=True)
    expires_at = UtcDateTime(allow_none=True)
    monthly_budget_usd = fields.Float(allow_none=True)
    last_used_at = UtcDateTime(allow_none=True, metadata={
        "description": "Updated at most once a minute"})


class ApiKeyCreatedSchema(ApiKeySchema):
    key = fields.String(required=True, metadata={
        "description": "The full sk-syn-... key, shown this once (only its hash is stored)"})
