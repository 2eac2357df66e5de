"""Conversation trees (edit, branches, forks) and share links."""
from __future__ import annotations

from marshmallow import Schema, fields, validate

from controllers.schemas.common import BoundedDateTime, IdempotentBodySchema, UtcDateTime
from controllers.schemas.talks import ID, MAX_CONTENT, ReplyOptionsSchema
from entities.talk import MessageRole, MessageStatus


class EditMessageSchema(ReplyOptionsSchema):
    content = fields.String(required=True, validate=validate.Length(min=1, max=MAX_CONTENT))
    file_ids = fields.List(fields.String(validate=ID), allow_none=True,
                           validate=validate.Length(max=20), metadata={
                               "description": "Files of the edited message (default: the "
                                              "original's)"})


class TreeNodeSchema(Schema):
    id = fields.String(required=True)
    parent_id = fields.String(allow_none=True)
    role = fields.Enum(MessageRole, by_value=True, required=True)
    status = fields.Enum(MessageStatus, by_value=True, required=True)
    created_at = UtcDateTime(allow_none=True)
    children = fields.List(fields.String(), required=True,
                           metadata={"description": "Ids, oldest first"})


class TalkTreeSchema(Schema):
    current_leaf_id = fields.String(allow_none=True)
    nodes = fields.List(fields.Nested(TreeNodeSchema), required=True,
                        metadata={"description": "Every live message, oldest first, no content"})


class CurrentLeafSchema(Schema):
    leaf_id = fields.String(required=True, validate=ID, metadata={
        "description": "A message of the talk; one with messages after it selects the most "
                       "recently created leaf below it"})


class ForkSchema(IdempotentBodySchema):
    message_id = fields.String(required=True, validate=ID,
                               metadata={"description": "The last message copied"})


class ShareCreateSchema(IdempotentBodySchema):
    expires_at = BoundedDateTime(allow_none=True, metadata={
        "description": "ISO 8601 (UTC without an offset), in the future (default: until "
                       "revoked)"})


class ShareSchema(Schema):
    id = fields.String(required=True)
    url = fields.String(required=True, metadata={"description": "The public link"})
    created_at = UtcDateTime(required=True)
    expires_at = UtcDateTime(allow_none=True)


class ShareListSchema(Schema):
    items = fields.List(fields.Nested(ShareSchema), required=True,
                        metadata={"description": "Not revoked, newest first"})


class SharedMessageSchema(Schema):
    role = fields.String(required=True)
    content = fields.String(required=True)
    created_at = UtcDateTime(allow_none=True)
    model = fields.String(allow_none=True)


class SharedTalkSchema(Schema):
    title = fields.String(required=True)
    messages = fields.List(fields.Nested(SharedMessageSchema), required=True)
    created_at = UtcDateTime(required=True)


class SharedForkSchema(IdempotentBodySchema):
    workspace_id = fields.String(validate=ID, allow_none=True,
                                 metadata={"description": "Default: the personal workspace"})
