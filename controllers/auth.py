"""/api/v1/auth: accounts, tokens and login sessions."""
from __future__ import annotations

from flask import request
from flask_jwt_extended import get_jwt

from controllers.blueprint import Blueprint
from controllers.deps import settings, use_cases
from controllers.rate_limits import limit_auth, limit_mail
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
@limit_mail
@blp.arguments(RegisterSchema)
@blp.response(201, AuthResultSchema)
@blp.alt_response(409, description="E-mail already registered")
def register(body):
    """Create an account and sign in

    Body `{email, password, name}`. 201 `{user, access_token, refresh_token, token_type: "bearer",
    expires_in}` (`expires_in`: seconds until the access token expires). The user gets a personal
    workspace they own, and a verification e-mail is sent.

    409 when the e-mail (case-insensitive) is already registered; 422 for a bad e-mail or a weak
    password (under 8 characters, or the e-mail itself); 429 after too many attempts from one IP
    (RATELIMIT_AUTH), or too many mails to that address or from that IP (RATELIMIT_MAIL,
    RATELIMIT_MAIL_IP)."""
    result = use_cases().accounts.register(body["email"], body["password"], body["name"],
                                           client_info())
    return login_body(result)


@blp.post("/login")
@limit_auth
@blp.arguments(LoginSchema)
@blp.response(200, AuthResultSchema)
@blp.alt_response(401, description="Invalid credentials")
def login(body):
    """Sign in with e-mail and password

    Body `{email, password}`. 200 with the same shape as register: the user and a new token pair,
    which opens a login session.

    401 `invalid_credentials` for a wrong password, an unknown e-mail and a deactivated account
    alike; 429 after too many attempts from one IP (RATELIMIT_AUTH)."""
    return login_body(use_cases().accounts.login(body["email"], body["password"], client_info()))


@blp.post("/refresh")
@authenticated(refresh=True)
@blp.response(200, TokenPairSchema)
def refresh():
    """Exchange a refresh token for a new token pair

    Send the **refresh** token as `Authorization: Bearer <refresh_token>`. 200 `{access_token,
    refresh_token, token_type, expires_in}`.

    A refresh token is spent once: presenting it again is 401 `token_revoked` and revokes every
    token of that login session. 401 also for an expired token, an ended session or a deactivated
    user."""
    # the session is the one checked live and the caller's (security.py); jti is this token's id
    result = use_cases().accounts.refresh(current_actor().session_id, get_jwt()["jti"])
    return issue_tokens(result.user, result.session, settings())


@blp.post("/logout")
@authenticated
@blp.arguments(LogoutSchema, required=False)
@blp.response(204)
def logout(body):
    """Sign out

    Ends this login session; a `refresh_token` of another of your sessions ends that too. 204; the
    access and refresh tokens of the ended sessions stop working at once.

    401 without a valid access token."""
    actor = current_actor()
    other = session_of_refresh_token(body["refresh_token"], actor.user_id) \
        if body.get("refresh_token") else None
    use_cases().accounts.logout(actor, other)


@blp.post("/logout-all")
@authenticated
@blp.response(204)
def logout_all():
    """Sign out of every session

    Revokes every login session of the caller, this one included. 204; every access and refresh
    token of the account stops working at once.

    401 without a valid access token."""
    use_cases().accounts.logout_all(current_actor())


@blp.get("/me")
@authenticated
@blp.response(200, UserSchema)
def me():
    """The caller's account

    200 `{id, email, name, role, is_active, email_verified, created_at, updated_at}` (never a
    password hash).

    401 without a valid access token."""
    return use_cases().accounts.me(current_actor().user_id)


@blp.patch("/me")
@authenticated
@blp.arguments(UpdateMeSchema)
@blp.response(200, UserSchema)
def update_me(body):
    """Change the caller's name

    Body `{name}` (1 to 120 characters). 200 with the user.

    `role`, `email` and `is_active` are unknown fields here: 422. 401 without a valid access token."""
    return use_cases().accounts.update_profile(current_actor(), name=body.get("name"))


@blp.post("/password")
@authenticated
@blp.arguments(ChangePasswordSchema)
@blp.response(204)
def change_password(body):
    """Change the caller's password

    Body `{current_password, new_password}`. 204. Every other login session is revoked; this one
    stays signed in.

    422 when `current_password` is wrong or the new password is weak (under 8 characters, or the
    e-mail itself). 401 without a valid access token."""
    use_cases().passwords.change(current_actor(), body["current_password"], body["new_password"])


@blp.post("/password-reset")
@limit_auth
@limit_mail
@blp.arguments(PasswordResetRequestSchema)
@blp.response(202)
def request_password_reset(body):
    """Ask for a password reset e-mail

    Body `{email}`. Always 202, so it does not reveal whether an account exists. The mailed token is
    valid for one hour and can be used once, with `POST /password-reset/confirm`.

    429 after too many requests from one IP (RATELIMIT_AUTH, RATELIMIT_MAIL_IP) or for one address
    (RATELIMIT_MAIL, whether or not an account has it)."""
    use_cases().passwords.request_reset(body["email"], client_info())


@blp.post("/password-reset/confirm")
@limit_auth
@blp.arguments(PasswordResetConfirmSchema)
@blp.response(204)
def confirm_password_reset(body):
    """Set a new password with a reset token

    Body `{token, new_password}`. 204. Spends the token, marks the e-mail address verified and
    revokes every login session of the account.

    422 for an invalid, expired or spent token, or a weak password (the token then stays usable);
    429 after too many attempts from one IP (RATELIMIT_AUTH)."""
    use_cases().passwords.confirm_reset(body["token"], body["new_password"], client_info())


@blp.post("/verify-email")
@limit_auth
@blp.arguments(VerifyEmailSchema)
@blp.response(204)
def verify_email(body):
    """Confirm an e-mail address

    Body `{token}`: the token mailed at registration (valid 48 hours, usable once). 204; the user's
    `email_verified` becomes true. No access token needed.

    422 for an invalid, expired or spent token; 429 after too many attempts from one IP
    (RATELIMIT_AUTH)."""
    use_cases().email_verification.verify(body["token"])


@blp.post("/verify-email/resend")
@limit_mail
@authenticated
@blp.response(202)
def resend_verification():
    """Send the verification e-mail again

    202; a new token (valid 48 hours) is mailed to the caller, unless the address is already
    verified.

    401 without a valid access token; 429 after too many mails to the account (RATELIMIT_MAIL) or
    from one IP (RATELIMIT_MAIL_IP); 503 when the mail cannot be sent."""
    use_cases().email_verification.resend(current_actor().user_id)


@blp.get("/sessions")
@authenticated
@blp.response(200, LoginSessionSchema(many=True))
def list_sessions():
    """The caller's live login sessions

    200 `[{id, created_at, last_used_at, user_agent, ip, current}]`: `current` marks the session of
    the token making this request; `last_used_at` is when the session last refreshed its tokens.

    401 without a valid access token."""
    actor = current_actor()
    return [{**vars(session), "current": session.id == actor.session_id}
            for session in use_cases().sessions.list_for(actor.user_id)]


@blp.delete("/sessions/<session_id>")
@authenticated
@blp.response(204)
@blp.alt_response(404, description="No such live session of yours")
def revoke_session(session_id):
    """End one of the caller's login sessions

    204; the tokens of that session stop working at once.

    404 when it is not a live session of the caller; 401 without a valid access token."""
    use_cases().sessions.revoke_own(current_actor().user_id, session_id)
