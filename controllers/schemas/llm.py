"""/api/v1/llm: the model catalogue and direct chat calls."""
from __future__ import annotations

from marshmallow import Schema, fields, validate

from controllers.schemas.common import IdempotentBodySchema
from controllers.schemas.talks import ID, MAX_CONTENT


class ModelsQuerySchema(Schema):
    workspace_id = fields.String(validate=ID, metadata={
        "description": "Whose provider keys count for `available` (default: personal)"})


class ModelInfoSchema(Schema):
    id = fields.String(required=True, metadata={"example": "openai/gpt-4o-mini"})
    provider = fields.String(required=True)
    available = fields.Boolean(required=True, metadata={
        "description": "Credentials (server or workspace) or a local runtime exist"})
    default = fields.Boolean(required=True)
    context_window = fields.Integer(allow_none=True)
    input_cost_per_token = fields.Float(allow_none=True)
    output_cost_per_token = fields.Float(allow_none=True)
    supports_vision = fields.Boolean()


class ChatMessageSchema(Schema):
    role = fields.String(required=True, validate=validate.OneOf(["system", "user", "assistant"]))
    content = fields.String(required=True, validate=validate.Length(max=MAX_CONTENT))


class LLMChatRequestSchema(IdempotentBodySchema):
    workspace_id = fields.String(validate=ID, allow_none=True)
    model = fields.String(allow_none=True, validate=validate.Length(max=200))
    messages = fields.List(fields.Nested(ChatMessageSchema), required=True,
                           validate=validate.Length(min=1, max=1000))
    temperature = fields.Float(allow_none=True, validate=validate.Range(min=0, max=2))
    max_tokens = fields.Integer(allow_none=True, validate=validate.Range(min=1, max=1_000_000))
    stream = fields.Boolean(load_default=False)


class ReplyMessageSchema(Schema):
    role = fields.String(required=True)
    content = fields.String(required=True)


class LLMUsageSchema(Schema):
    prompt_tokens = fields.Integer(required=True)
    completion_tokens = fields.Integer(required=True)
    total_tokens = fields.Integer(required=True)
    cost_usd = fields.Float(required=True)


class LLMChatResultSchema(Schema):
    id = fields.String(required=True)
    model = fields.String(required=True, metadata={"description": "The model that answered"})
    message = fields.Nested(ReplyMessageSchema, required=True)
    usage = fields.Nested(LLMUsageSchema, required=True)
    latency_ms = fields.Float(required=True)
    fallback_used = fields.Boolean(required=True)
