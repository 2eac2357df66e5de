from datetime import UTC, datetime, time, timedelta

from marshmallow import Schema, fields, validate

from controllers.schemas.common import BoundedDateTime, UtcDateTime
from entities.usage_report import GROUPINGS


class DateOrDateTime(BoundedDateTime):
    """ISO-8601 date-time, or a bare date: its start, or with `end_of_day` the next day's start
    (so `to=2026-01-31` includes that day)."""

    def __init__(self, end_of_day: bool = False, **kwargs):
        super().__init__(**kwargs)
        self.end_of_day = end_of_day

    def _deserialize(self, value, attr, data, **kwargs):
        if isinstance(value, str) and len(value) == 10:
            try:
                day = datetime.combine(datetime.strptime(value, "%Y-%m-%d").date(), time(), UTC)
            except ValueError:
                raise self.make_error("invalid", input=value, obj_type=self.OBJ_TYPE) from None
            day = self._bounded(day)
            return day + timedelta(days=1) if self.end_of_day else day
        return super()._deserialize(value, attr, data, **kwargs)


class UsageQuerySchema(Schema):
    workspace_id = fields.String(validate=validate.Length(max=64), metadata={
        "description": "Omitted: every workspace for global admins and analysts, the caller's "
                       "personal workspace for anyone else"})
    since = DateOrDateTime(data_key="from", metadata={
        "description": "ISO-8601 date or date-time, inclusive; default: 30 days before `to`"})
    until = DateOrDateTime(data_key="to", end_of_day=True, metadata={
        "description": "ISO-8601 date-time (exclusive) or date (inclusive); default: now"})
    group_by = fields.String(load_default="day", validate=validate.OneOf(GROUPINGS))


class UsageTotalsSchema(Schema):
    requests = fields.Integer(required=True)
    prompt_tokens = fields.Integer(required=True)
    completion_tokens = fields.Integer(required=True)
    cost_usd = fields.Float(required=True)
    avg_latency_ms = fields.Float(required=True)
    errors = fields.Integer(required=True)


class UsageItemSchema(UsageTotalsSchema):
    key = fields.String(allow_none=True, required=True, metadata={
        "description": "The day (YYYY-MM-DD, UTC), the model id or the user id"})


class UsageReportSchema(Schema):
    items = fields.List(fields.Nested(UsageItemSchema), required=True)
    totals = fields.Nested(UsageTotalsSchema, required=True)
    group_by = fields.String(required=True)
    workspace_id = fields.String(allow_none=True, required=True)
    since = UtcDateTime(data_key="from", required=True)
    until = UtcDateTime(data_key="to", required=True)
