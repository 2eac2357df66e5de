"""Request and response shapes of talk imports and account exports."""
from __future__ import annotations

from marshmallow import Schema, fields, validate

from controllers.schemas.common import UtcDateTime
from entities.talk_import import IMPORT_FORMATS


class ImportFieldsSchema(Schema):
    """The text fields of an import form (the file part is read separately, as a stream)."""

    workspace_id = fields.String(validate=validate.Length(max=64), metadata={
        "description": "Default: the caller's personal workspace"})
    format = fields.String(validate=validate.OneOf(IMPORT_FORMATS), metadata={
        "description": "Default: detected for each conversation"})


class ImportFormSchema(ImportFieldsSchema):
    file = fields.Raw(required=True, metadata={
        "type": "string", "format": "binary",
        "description": "The export: .json, .jsonl or .zip (ChatGPT, Claude, LibreChat, "
                       "Open WebUI or SynapScale)"})


class ImportStatusQuerySchema(Schema):
    items = fields.String(load_default="all", validate=validate.OneOf(["all", "failed", "none"]),
                          metadata={"description": "Which items to list (`none`: counters only)"})
    offset = fields.Integer(load_default=0, validate=validate.Range(min=0), metadata={
        "description": "List items from this position in the file (a `next_offset`)"})
    limit = fields.Integer(load_default=100, validate=validate.Range(min=1, max=100),
                           metadata={"description": "At most this many items (1-100)"})


class ImportStartedSchema(Schema):
    import_id = fields.String(required=True)
    status = fields.String(required=True)


class ImportItemSchema(Schema):
    source_id = fields.String(required=True, metadata={
        "description": "The conversation's id in the export (or its place, `file#n`)"})
    status = fields.String(required=True, metadata={"description": "imported | skipped | failed"})
    talk_id = fields.String(allow_none=True)
    title = fields.String(allow_none=True)
    error = fields.String(allow_none=True)


class ImportStatusSchema(Schema):
    id = fields.String(required=True)
    status = fields.String(required=True, metadata={"description": "running | succeeded | failed"})
    format = fields.String(allow_none=True)
    filename = fields.String(required=True)
    total = fields.Integer(required=True)
    imported = fields.Integer(required=True)
    skipped = fields.Integer(required=True)
    failed = fields.Integer(required=True)
    error = fields.String(allow_none=True, metadata={
        "description": "Why the whole import failed (no conversations, a broken file...)"})
    created_at = UtcDateTime(allow_none=True)
    finished_at = UtcDateTime(allow_none=True)
    items = fields.List(fields.Nested(ImportItemSchema), required=True)
    next_offset = fields.Integer(allow_none=True, metadata={
        "description": "`offset` of the next page of items (null: this page is the last)"})


class AccountExportQuerySchema(Schema):
    workspace_id = fields.String(validate=validate.Length(max=64), metadata={
        "description": "Default: every workspace of the caller"})


class ExportStartedSchema(Schema):
    export_id = fields.String(required=True)
    status = fields.String(required=True)


class ExportStatusSchema(Schema):
    id = fields.String(required=True)
    status = fields.String(required=True, metadata={"description": "running | succeeded | failed"})
    total = fields.Integer(required=True)
    exported = fields.Integer(required=True)
    size = fields.Integer(allow_none=True, metadata={"description": "The zip's size in bytes"})
    error = fields.String(allow_none=True)
    url = fields.String(allow_none=True, metadata={
        "description": "Once succeeded: a signed link to the zip, no Authorization needed"})
    expires_at = UtcDateTime(allow_none=True)
    created_at = UtcDateTime(allow_none=True)
    finished_at = UtcDateTime(allow_none=True)
