from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from controllers.schemas.common import IdempotentBodySchema, UtcDateTime
from entities.workspace import WorkspaceRole


class WorkspaceSettingsSchema(Schema):
    default_model = fields.String(allow_none=True, validate=validate.Length(max=200))
    system_prompt = fields.String(allow_none=True, validate=validate.Length(max=20_000))
    monthly_budget_usd = fields.Float(allow_none=True, validate=validate.Range(min=0, max=1e9))
    member_monthly_budget_usd = fields.Float(
        allow_none=True, validate=validate.Range(min=0, max=1e9),
        metadata={"description": "Each member's monthly budget unless their membership sets one"})
    budget_alert_thresholds = fields.List(
        fields.Float(validate=validate.Range(min=0.01, max=10)), allow_none=True,
        validate=validate.Length(min=1, max=10),
        metadata={"description": "Fractions of a budget that trigger budget.threshold_reached; "
                                 "default [0.5, 0.8, 1.0]"})


class WorkspaceSchema(Schema):
    id = fields.String(required=True)
    name = fields.String(required=True)
    description = fields.String(required=True)
    settings = fields.Nested(WorkspaceSettingsSchema, required=True)
    is_personal = fields.Boolean(required=True)
    role = fields.String(required=True, metadata={"description": "The caller's role"})
    created_at = UtcDateTime(required=True)
    updated_at = UtcDateTime(required=True)


class WorkspaceCreateSchema(IdempotentBodySchema):
    name = fields.String(required=True, validate=validate.Length(min=1, max=120))
    description = fields.String(load_default="", validate=validate.Length(max=2000))
    settings = fields.Nested(WorkspaceSettingsSchema)


class WorkspaceUpdateSchema(Schema):
    name = fields.String(validate=validate.Length(min=1, max=120))
    description = fields.String(validate=validate.Length(max=2000))
    settings = fields.Nested(WorkspaceSettingsSchema, metadata={
        "description": "Merged into the current settings; null clears a value"})


class MemberSchema(Schema):
    user_id = fields.String(required=True)
    email = fields.String(required=True)
    name = fields.String(required=True)
    role = fields.Enum(WorkspaceRole, by_value=True, required=True)
    joined_at = UtcDateTime(allow_none=True)
    monthly_budget_usd = fields.Float(allow_none=True, metadata={
        "description": "The member's own monthly budget (null: the workspace's member default)"})


class MemberAddSchema(Schema):
    email = fields.Email(required=True, validate=validate.Length(max=254))
    role = fields.Enum(WorkspaceRole, by_value=True, load_default=WorkspaceRole.MEMBER)


class MemberUpdateSchema(Schema):
    role = fields.Enum(WorkspaceRole, by_value=True)
    monthly_budget_usd = fields.Float(allow_none=True, validate=validate.Range(min=0, max=1e9))

    @validates_schema
    def _something(self, data: dict, **_kwargs) -> None:
        if not data:
            raise ValidationError("Give a role, a monthly_budget_usd or both.", "_schema")


class ProviderStatusSchema(Schema):
    provider = fields.String(required=True)
    configured = fields.Boolean(required=True)
    key_hint = fields.String(allow_none=True, metadata={"example": "sk-...abcd"})
    api_base = fields.String(allow_none=True)
    updated_at = UtcDateTime(allow_none=True)


class ProviderKeyPutSchema(Schema):
    api_key = fields.String(validate=validate.Length(max=1024), load_only=True, metadata={
        "description": "Stored encrypted; only a hint is ever returned. Optional with api_base "
                       "(e.g. Ollama)."})
    api_base = fields.Url(allow_none=True, require_tld=False, schemes={"http", "https"},
                          validate=validate.Length(max=500))
