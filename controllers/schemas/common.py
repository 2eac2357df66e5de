"""Schemas shared by every area: errors, pages, ids."""
from __future__ import annotations

from datetime import UTC, datetime
from functools import cache

from marshmallow import Schema, fields, validate

from entities.clock import iso_utc

MAX_PAGE_SIZE = 100

# Dates a query may name: wide enough for any real range, far enough from datetime's limits
# that a range's arithmetic (a day added, 30 or 400 days taken) cannot overflow.
EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)
LATEST = datetime(9000, 1, 1, tzinfo=UTC)


class UtcDateTime(fields.DateTime):
    """A date-time as API.md's conventions write it: ISO-8601 UTC ending in `Z`
    (`2026-01-31T12:00:00Z`); a naive value is UTC. Every response schema's date-times use it."""

    def _serialize(self, value, attr, obj, **kwargs):
        if value is None or self.format not in (None, "iso", "iso8601"):
            return super()._serialize(value, attr, obj, **kwargs)
        return iso_utc(value)


class BoundedDateTime(fields.AwareDateTime):
    """An ISO-8601 date-time (UTC when it names no offset) between EARLIEST and LATEST: any
    other is a 422, never an overflow."""

    default_error_messages = {
        "out_of_range": f"Must be between {EARLIEST.date()} and {LATEST.date()}.",
    }

    def __init__(self, **kwargs):
        kwargs.setdefault("default_timezone", UTC)
        super().__init__(**kwargs)

    def _bounded(self, value: datetime) -> datetime:
        try:
            inside = EARLIEST <= value <= LATEST
        except OverflowError:  # an offset that moves it past datetime's limits
            inside = False
        if not inside:
            raise self.make_error("out_of_range")
        return value

    def _deserialize(self, value, attr, data, **kwargs):
        try:
            parsed = super()._deserialize(value, attr, data, **kwargs)
        except OverflowError:
            raise self.make_error("out_of_range") from None
        return self._bounded(parsed)

# One Server-Sent Event, as OpenAPI before 3.2 describes a text/event-stream response: the
# schema of each event, not of the whole stream.
SSE_EVENT_SCHEMA = {
    "type": "object",
    "description": "One Server-Sent Event (`event: <name>` + `data: <json>`)",
    "properties": {"event": {"type": "string"}, "data": {"type": "string"},
                   "id": {"type": "string"}, "retry": {"type": "integer"}},
    "required": ["data"],
}


class IdempotentBodySchema(Schema):
    """A creating request's body: `client_message_id`, the body's form of the Idempotency-Key
    header (controllers/idempotency.py)."""

    client_message_id = fields.String(validate=validate.Regexp(r"^[\x21-\x7e]{1,255}$"), metadata={
        "description": "A key the client chose for this request (as the Idempotency-Key header): "
                       "a repeat within 24 h stores nothing new and gets the first answer"})


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
