"""Talks, messages, search and streaming events (v1 and the ChatAI-compatible routes)."""
from __future__ import annotations

from marshmallow import Schema, fields, post_dump, validate

from controllers.schemas.common import (
    SSE_EVENT_SCHEMA,
    IdempotentBodySchema,
    PageQuerySchema,
    UtcDateTime,
)
from entities.talk import Message, MessageRole, MessageStatus, Talk
from use_cases.chat.ports import TalkRepresentation

ID = validate.Regexp(r"^[0-9a-fA-F]{24}$", error="Not a valid id.")
MAX_CONTENT = 100_000
TAGS = fields.List(fields.String(validate=validate.Length(min=1, max=50)),
                   validate=validate.Length(max=20))


class TalkSourceSchema(Schema):
    format = fields.String(required=True, metadata={"description": "The export format"})
    id = fields.String(required=True, metadata={"description": "The conversation's id there"})


class TalkSchema(Schema):
    id = fields.String(required=True)
    workspace_id = fields.String(required=True)
    name = fields.String(required=True)
    model = fields.String(allow_none=True)
    system_prompt = fields.String(allow_none=True)
    agent_id = fields.String(allow_none=True, metadata={
        "description": "Replies come from this agent (its model, instructions and tools)"})
    tags = fields.List(fields.String(), required=True)
    archived = fields.Boolean(required=True)
    pinned = fields.Boolean(required=True)
    message_count = fields.Integer(required=True)
    last_message_at = UtcDateTime(allow_none=True)
    created_at = UtcDateTime(required=True)
    updated_at = UtcDateTime(required=True)
    current_leaf_id = fields.String(allow_none=True, metadata={
        "description": "The message the talk shows last: history follows `parent_id` from it "
                       "to the root (null: no message yet)"})
    source = fields.Nested(TalkSourceSchema, allow_none=True, metadata={
        "description": "Where an imported talk came from (null for talks made here)"})


class TalkCreateSchema(IdempotentBodySchema):
    workspace_id = fields.String(validate=ID, allow_none=True,
                                 metadata={"description": "Default: the personal workspace"})
    name = fields.String(load_default="", validate=validate.Length(max=200))
    model = fields.String(allow_none=True, validate=validate.Length(max=200))
    system_prompt = fields.String(allow_none=True, validate=validate.Length(max=20_000))
    agent_id = fields.String(validate=ID, allow_none=True, metadata={
        "description": "An agent of the talk's workspace: it answers every message"})
    tags = TAGS


class TalkUpdateSchema(Schema):
    name = fields.String(validate=validate.Length(max=200))
    model = fields.String(allow_none=True, validate=validate.Length(max=200))
    system_prompt = fields.String(allow_none=True, validate=validate.Length(max=20_000))
    tags = TAGS
    archived = fields.Boolean()
    pinned = fields.Boolean()


class TalkListQuerySchema(PageQuerySchema):
    workspace_id = fields.String(validate=ID)
    q = fields.String(validate=validate.Length(max=200), metadata={"description": "Name contains"})
    archived = fields.Boolean(load_default=False)
    deleted = fields.Boolean(load_default=False, metadata={"description": "List the trash"})


class MessageUsageSchema(Schema):
    prompt_tokens = fields.Integer(required=True)
    completion_tokens = fields.Integer(required=True)
    total_tokens = fields.Integer(required=True)
    cost_usd = fields.Float(required=True)


class MessageSchema(Schema):
    id = fields.String(required=True)
    talk_id = fields.String(required=True)
    role = fields.Enum(MessageRole, by_value=True, required=True)
    content = fields.String(required=True)
    status = fields.Enum(MessageStatus, by_value=True, required=True)
    model = fields.String(allow_none=True)
    parent_id = fields.String(allow_none=True)
    file_ids = fields.List(fields.String(), required=True)
    usage = fields.Nested(MessageUsageSchema, allow_none=True)
    latency_ms = fields.Float(allow_none=True)
    error = fields.String(allow_none=True)
    created_at = UtcDateTime(required=True)
    updated_at = UtcDateTime(required=True)
    tool_calls = fields.List(fields.Dict(), metadata={
        "description": "An agent's assistant message calling tools: [{id, name, arguments}] "
                       "(only then present)"})
    tool_call_id = fields.String(metadata={"description": "A `tool` message: the call it answers"})
    name = fields.String(metadata={"description": "A `tool` message: the tool's name"})

    @post_dump
    def _only_tool_fields_that_apply(self, data: dict, **kwargs) -> dict:
        for key in ("tool_calls", "tool_call_id", "name"):
            if data.get(key) is None:
                data.pop(key, None)
        return data


class MessagePageSchema(Schema):
    items = fields.List(fields.Nested(MessageSchema), required=True,
                        metadata={"description": "Oldest first"})
    has_more = fields.Boolean(required=True)
    next_before = fields.String(allow_none=True)


class MessagePageQuerySchema(Schema):
    limit = fields.Integer(load_default=50, validate=validate.Range(min=1, max=100))
    before = fields.String(validate=ID, metadata={"description": "A message id: older ones"})
    branch = fields.String(load_default="current", validate=validate.OneOf(["current", "all"]),
                           metadata={"description": "`current`: the path from the root to the "
                                                    "current leaf; `all`: every message"})


class ResumeQuerySchema(Schema):
    after = fields.Integer(validate=validate.Range(min=0, max=10**15), metadata={
        "description": "The `seq` (SSE `id`) of the last event the client has"})
    token = fields.String(validate=validate.Length(max=4096), metadata={
        "description": "An access token, for clients that cannot send headers (EventSource); "
                       "never logged"})


class ReplyOptionsSchema(IdempotentBodySchema):
    model = fields.String(allow_none=True, validate=validate.Length(max=200))
    temperature = fields.Float(allow_none=True, validate=validate.Range(min=0, max=2))
    max_tokens = fields.Integer(allow_none=True, validate=validate.Range(min=1, max=1_000_000))
    stream = fields.Boolean(load_default=False, metadata={
        "description": "Answer with Server-Sent Events (also with `Accept: text/event-stream`)"})


class SendMessageSchema(ReplyOptionsSchema):
    content = fields.String(required=True, validate=validate.Length(min=1, max=MAX_CONTENT))
    file_ids = fields.List(fields.String(validate=ID), load_default=list,
                           validate=validate.Length(max=20))


class ExchangeSchema(Schema):
    user_message = fields.Nested(MessageSchema, required=True)
    assistant_message = fields.Nested(MessageSchema, required=True)


class StoppedSchema(Schema):
    messages = fields.List(fields.Nested(MessageSchema), required=True,
                           metadata={"description": "The replies stopped (saved as `stopped`)"})


class ExportQuerySchema(Schema):
    format = fields.String(load_default="json", validate=validate.OneOf(["json", "markdown"]))


class SearchQuerySchema(PageQuerySchema):
    q = fields.String(required=True, validate=validate.Length(min=1, max=200))
    workspace_id = fields.String(validate=ID)


class SearchHitSchema(Schema):
    talk_id = fields.String(required=True)
    talk_name = fields.String(required=True)
    message_id = fields.String(allow_none=True, metadata={"description": "null: the name matched"})
    snippet = fields.String(required=True)
    created_at = UtcDateTime(allow_none=True)


SSE_DESCRIPTION = (
    "With `stream: true` or `Accept: text/event-stream`: Server-Sent Events, each "
    "`event: <name>` + `data: <json>`: `user_message` (the stored message), `start` "
    "`{message_id, model}`, `delta` `{content}` (many), then `done` `{message}` or `error` "
    "`{code, message}`. Keep-alive comments at least every 15 s. A client that disconnects does "
    "not stop the reply; it is completed and stored. When the caller's session ends (logout, "
    "password change, deactivation...) the stream sends `error` `{code: \"token_revoked\"}` and "
    "ends within a few seconds; the reply goes on and is stored.")
SSE_SCHEMA = SSE_EVENT_SCHEMA


class SchemaRepresentation(TalkRepresentation):
    """Talks and messages as the API returns them (TalkSchema, MessageSchema): the form events
    and exports use too."""

    def talk(self, talk: Talk) -> dict:
        return TalkSchema().dump(talk)

    def message(self, message: Message) -> dict:
        return MessageSchema().dump(message)
