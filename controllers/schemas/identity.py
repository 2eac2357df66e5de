from marshmallow import Schema, fields, validate

from controllers.schemas.common import PageQuerySchema, UtcDateTime


class UserSchema(Schema):
    id = fields.String(required=True)
    email = fields.String(required=True)
    name = fields.String(required=True)
    role = fields.Function(lambda user: user.role.value, required=True)
    is_active = fields.Boolean(required=True)
    email_verified = fields.Boolean(required=True)
    created_at = UtcDateTime(required=True)
    updated_at = UtcDateTime(required=True)


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


def _password_field() -> fields.String:
    return fields.String(required=True, validate=validate.Length(min=1, max=1024), load_only=True)


def _token_field() -> fields.String:
    return fields.String(required=True, validate=validate.Length(min=1, max=256), load_only=True)


class UpdateMeSchema(Schema):
    """Only the name: role, email and is_active are unknown fields here, so they get 422."""

    name = fields.String(validate=validate.Length(min=1, max=120))


class LogoutSchema(Schema):
    refresh_token = fields.String(validate=validate.Length(max=4096), load_only=True)


class ChangePasswordSchema(Schema):
    current_password = _password_field()
    new_password = _password_field()


class PasswordResetRequestSchema(Schema):
    email = fields.String(required=True, validate=validate.Length(max=254))


class PasswordResetConfirmSchema(Schema):
    token = _token_field()
    new_password = _password_field()


class VerifyEmailSchema(Schema):
    token = _token_field()


class LoginSessionSchema(Schema):
    id = fields.String(required=True)
    created_at = UtcDateTime(required=True)
    last_used_at = UtcDateTime(required=True, metadata={
        "description": "When the session last refreshed its tokens"})
    user_agent = fields.String(allow_none=True)
    ip = fields.String(allow_none=True)
    current = fields.Boolean(required=True, metadata={
        "description": "The session of the token making this request"})
