from marshmallow import Schema, fields, validate


class WorkspaceSettingsSchema(Schema):
    default_model = fields.String(allow_none=True, validate=validate.Length(max=200))
    system_prompt = fields.String(allow_none=True, validate=validate.Length(max=20_000))
    monthly_budget_usd = fields.Float(allow_none=True, validate=validate.Range(min=0))


class WorkspaceSchema(Schema):
    id = fields.String(required=True)
    name = fields.String(required=True)
    description = fields.String(required=True)
    settings = fields.Nested(WorkspaceSettingsSchema, required=True)
    is_personal = fields.Boolean(required=True)
    role = fields.String(required=True)
    created_at = fields.DateTime(required=True)
    updated_at = fields.DateTime(required=True)
