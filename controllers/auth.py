"""/api/v1/auth: accounts, tokens and login sessions."""
from __future__ import annotations

from flask import request
from flask_jwt_extended import get_jwt
from flask_smorest import Blueprint

from controllers.deps import settings, use_cases
from controllers.rate_limits import limit_auth
from controllers.schemas.identity import (
    AuthResultSchema,
    ChangePasswordSchema,
    LoginSchema,
    LoginSessionSchema,
    LogoutSchema,
    PasswordResetConfirmSchema,
    PasswordResetRequestSchema,
    RegisterSchema,
    TokenPairSchema,
    UpdateMeSchema,
    UserSchema,
    VerifyEmailSchema,
)
from controllers.security import (
    authenticated,
    current_actor,
    issue_tokens,
    session_of_refresh_token,
)
from use_cases.identity.auth import ClientInfo

blp = Blueprint("auth", __name__, url_prefix="/api/v1/auth", description="Accounts and sessions")


def client_info() -> ClientInfo:
    return ClientInfo(ip=request.remote_addr, user_agent=request.user_agent.string)


def login_body(result) -> dict:
    return {"user": result.user, **issue_tokens(result.user, result.session, settings())}


@blp.post("/register")
@limit_auth
@blp.arguments(RegisterSchema)
@blp.response(201, AuthResultSchema)
@blp.alt_response(409, description="E-mail already registered")
def register(body):
    result = use_cases().accounts.register(body["email"], body["password"], body["name"],
                                           client_info())
    return login_body(result)


@blp.post("/login")
@limit_auth
@blp.arguments(LoginSchema)
@blp.response(200, AuthResultSchema)
@blp.alt_response(401, description="Invalid credentials")
def login(body):
    return login_body(use_cases().accounts.login(body["email"], body["password"], client_info()))


@blp.post("/refresh")
@authenticated(refresh=True)
@blp.response(200, TokenPairSchema)
def refresh():
    claims = get_jwt()
    result = use_cases().accounts.refresh(claims["sid"], claims["jti"])
    return issue_tokens(result.user, result.session, settings())


@blp.post("/logout")
@authenticated
@blp.arguments(LogoutSchema, required=False)
@blp.response(204)
def logout(body):
    """Ends this login session; a `refresh_token` of another of your sessions ends that too."""
    actor = current_actor()
    other = session_of_refresh_token(body["refresh_token"], actor.user_id) \
        if body.get("refresh_token") else None
    use_cases().accounts.logout(actor, other)


@blp.post("/logout-all")
@authenticated
@blp.response(204)
def logout_all():
    use_cases().accounts.logout_all(current_actor())


@blp.get("/me")
@authenticated
@blp.response(200, UserSchema)
def me():
    return use_cases().accounts.me(current_actor().user_id)


@blp.patch("/me")
@authenticated
@blp.arguments(UpdateMeSchema)
@blp.response(200, UserSchema)
def update_me(body):
    return use_cases().accounts.update_profile(current_actor(), name=body.get("name"))


@blp.post("/password")
@authenticated
@blp.arguments(ChangePasswordSchema)
@blp.response(204)
def change_password(body):
    """Every other login session is revoked; this one stays signed in."""
    use_cases().passwords.change(current_actor(), body["current_password"], body["new_password"])


@blp.post("/password-reset")
@limit_auth
@blp.arguments(PasswordResetRequestSchema)
@blp.response(202)
def request_password_reset(body):
    """Always 202, so it does not reveal whether an account exists. The mailed token is valid
    for one hour and can be used once."""
    use_cases().passwords.request_reset(body["email"], client_info())


@blp.post("/password-reset/confirm")
@limit_auth
@blp.arguments(PasswordResetConfirmSchema)
@blp.response(204)
def confirm_password_reset(body):
    """Spends the token and revokes every login session of the account."""
    use_cases().passwords.confirm_reset(body["token"], body["new_password"], client_info())


@blp.post("/verify-email")
@limit_auth
@blp.arguments(VerifyEmailSchema)
@blp.response(204)
def verify_email(body):
    use_cases().email_verification.verify(body["token"])


@blp.post("/verify-email/resend")
@authenticated
@blp.response(202)
def resend_verification():
    use_cases().email_verification.resend(current_actor().user_id)


@blp.get("/sessions")
@authenticated
@blp.response(200, LoginSessionSchema(many=True))
def list_sessions():
    actor = current_actor()
    return [{**vars(session), "current": session.id == actor.session_id}
            for session in use_cases().sessions.list_for(actor.user_id)]


@blp.delete("/sessions/<session_id>")
@authenticated
@blp.response(204)
@blp.alt_response(404, description="No such live session of yours")
def revoke_session(session_id):
    use_cases().sessions.revoke_own(current_actor().user_id, session_id)
