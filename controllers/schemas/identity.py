from marshmallow import Schema, fields, validate

from controllers.schemas.common import PageQuerySchema


class UserSchema(Schema):
    id = fields.String(required=True)
    email = fields.String(required=True)
    name = fields.String(required=True)
    role = fields.Function(lambda user: user.role.value, required=True)
    is_active = fields.Boolean(required=True)
    email_verified = fields.Boolean(required=True)
    created_at = fields.DateTime(required=True)
    updated_at = fields.DateTime(required=True)


class RegisterSchema(Schema):
    email = fields.Email(required=True, validate=validate.Length(max=254))
    password = fields.String(required=True, validate=validate.Length(max=1024),
                             load_only=True)
    name = fields.String(required=True, validate=validate.Length(min=1, max=120))


class LoginSchema(Schema):
    email = fields.String(required=True, validate=validate.Length(max=254))
    password = fields.String(required=True, validate=validate.Length(max=1024), load_only=True)


class TokenPairSchema(Schema):
    access_token = fields.String(required=True)
    refresh_token = fields.String(required=True)
    token_type = fields.String(required=True)
    expires_in = fields.Integer(required=True)


class AuthResultSchema(TokenPairSchema):
    user = fields.Nested(UserSchema, required=True)


class UserSearchQuerySchema(PageQuerySchema):
    q = fields.String(validate=validate.Length(max=200))
