"""Schemas shared by every area: errors, pages, ids."""
from __future__ import annotations

from functools import cache

from marshmallow import Schema, fields, validate

MAX_PAGE_SIZE = 100

# One Server-Sent Event, as OpenAPI before 3.2 describes a text/event-stream response: the
# schema of each event, not of the whole stream.
SSE_EVENT_SCHEMA = {
    "type": "object",
    "description": "One Server-Sent Event (`event: <name>` + `data: <json>`)",
    "properties": {"event": {"type": "string"}, "data": {"type": "string"},
                   "id": {"type": "string"}, "retry": {"type": "integer"}},
    "required": ["data"],
}


class ErrorBodySchema(Schema):
    code = fields.String(required=True)
    message = fields.String(required=True)
    details = fields.Dict()


class ErrorSchema(Schema):
    error = fields.Nested(ErrorBodySchema, required=True)


class PageQuerySchema(Schema):
    page = fields.Integer(load_default=1, validate=validate.Range(min=1, max=100_000))
    size = fields.Integer(load_default=20, validate=validate.Range(min=1, max=MAX_PAGE_SIZE))


@cache
def page_of(item_schema: type[Schema]) -> type[Schema]:
    """The page envelope of API.md around `item_schema`, one named class per item type."""
    name = item_schema.__name__.removesuffix("Schema") + "PageSchema"
    return type(name, (Schema,), {
        "items": fields.List(fields.Nested(item_schema), required=True),
        "page": fields.Integer(required=True),
        "size": fields.Integer(required=True),
        "total": fields.Integer(required=True),
        "pages": fields.Integer(required=True),
    })


def page_body(page) -> dict:
    """Serialise an entities.pagination.Page for a page_of(...) response schema."""
    return {"items": list(page.items), "page": page.page, "size": page.size,
            "total": page.total, "pages": page.pages}
