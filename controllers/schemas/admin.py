from marshmallow import Schema, fields, validate

from controllers.schemas.common import BoundedDateTime, PageQuerySchema, UtcDateTime
from entities.user import GlobalRole


class AdminUserUpdateSchema(Schema):
    role = fields.Enum(GlobalRole, by_value=True)
    is_active = fields.Boolean()


class AuditQuerySchema(PageQuerySchema):
    actor = fields.String(validate=validate.Length(max=64), metadata={
        "description": "User id of whoever acted"})
    action = fields.String(validate=validate.Length(max=100),
                           metadata={"description": "e.g. auth.login, member.added"})
    since = BoundedDateTime(data_key="from", metadata={"description": "ISO-8601, inclusive"})
    until = BoundedDateTime(data_key="to", metadata={"description": "ISO-8601, exclusive"})


class AuditEntrySchema(Schema):
    id = fields.String(required=True)
    actor_id = fields.String(allow_none=True, required=True)
    action = fields.String(required=True)
    target_type = fields.String(allow_none=True)
    target_id = fields.String(allow_none=True)
    workspace_id = fields.String(allow_none=True)
    ip = fields.String(allow_none=True)
    at = UtcDateTime(required=True)
    details = fields.Dict(required=True)
