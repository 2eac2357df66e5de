"""JWT handling with flask-jwt-extended: issuing token pairs, checking them, and `authenticated`.

Every token carries its login session id (`sid`); a token is valid only while that session is
live and belongs to the token's user (`sub`), which makes logout, password changes and
deactivation effective at once for the price of one lookup by primary key per request.

Claims are not authority: the caller's role and active state come from the database
(use_cases/identity/principals.py), never from the token. The `role` claim of access tokens is
informational, for clients.
"""
from __future__ import annotations

from datetime import timedelta
from functools import wraps

from flask import Flask, current_app, g, has_request_context, request
from flask_jwt_extended import (
    JWTManager,
    create_access_token,
    create_refresh_token,
    decode_token,
    get_current_user,
    jwt_required,
)

from controllers.errors import error_response
from controllers.openapi import BEARER
from entities.actor import Actor

jwt = JWTManager()


def init_jwt(app: Flask, settings, principals) -> None:
    app.config.update(
        JWT_SECRET_KEY=settings.jwt_secret_key,
        JWT_ACCESS_TOKEN_EXPIRES=timedelta(seconds=settings.jwt_access_token_expires),
        JWT_REFRESH_TOKEN_EXPIRES=timedelta(seconds=settings.jwt_refresh_token_expires),
        JWT_TOKEN_LOCATION=["headers"],
        JWT_ALGORITHM="HS256",
        JWT_DECODE_ALGORITHMS=["HS256"],
        JWT_ERROR_MESSAGE_KEY="message",
    )
    jwt.init_app(app)

    @jwt.token_in_blocklist_loader
    def _revoked(_header, payload):
        return not principals.session_is_live(payload.get("sub"), payload.get("sid"))

    @jwt.user_lookup_loader
    def _caller(_header, payload):
        """The Actor, with the role and active state the database holds (None: 401)."""
        return principals.actor_of(payload["sub"], payload.get("sid"), _client_ip())

    @jwt.expired_token_loader
    def _expired(_header, _payload):
        return error_response(401, "token_expired", "Token has expired")

    @jwt.revoked_token_loader
    def _revoked_response(_header, _payload):
        return error_response(401, "token_revoked", "Token has been revoked")

    @jwt.invalid_token_loader
    def _invalid(reason):
        return error_response(401, "unauthorized", "Invalid token")

    @jwt.unauthorized_loader
    def _missing(reason):
        return error_response(401, "unauthorized", "Missing or malformed Authorization header")

    @jwt.needs_fresh_token_loader
    def _not_fresh(_header, _payload):
        return error_response(401, "unauthorized", "Fresh token required")

    @jwt.user_lookup_error_loader
    def _lookup(_header, _payload):
        return error_response(401, "unauthorized", "Unknown user")


def issue_tokens(user, session, settings) -> dict:
    claims = {"sid": session.id, "role": user.role.value}
    return {
        "access_token": create_access_token(identity=user.id, additional_claims=claims),
        "refresh_token": create_refresh_token(
            identity=user.id, additional_claims={"sid": session.id, "jti": session.refresh_jti}),
        "token_type": "bearer",
        "expires_in": settings.jwt_access_token_expires,
    }


def _client_ip() -> str | None:
    return request.remote_addr if has_request_context() else None


def current_actor() -> Actor:
    return g.actor


def authenticated(view=None, *, refresh: bool = False, query_token: bool = False):
    """jwt_required plus: the Actor in `g`, the user id in the access log, bearer in the spec.

    `query_token`: without an Authorization header, `?token=<access token>` authenticates too,
    under the rules of WebSockets (`actor_from_token`), for clients that cannot send headers
    (EventSource). The access log records the path only, never the query."""

    def decorate(fn):
        @wraps(fn)
        @jwt_required(refresh=refresh)
        def by_header(*args, **kwargs):
            g.actor = get_current_user()
            g.user_id = g.actor.user_id
            return fn(*args, **kwargs)

        @wraps(fn)
        def wrapper(*args, **kwargs):
            token = request.args.get("token") if query_token else None
            if token is None or "Authorization" in request.headers:
                return by_header(*args, **kwargs)
            actor = actor_from_token(token, current_app.extensions["synapscale"].principals)
            if actor is None:
                return error_response(401, "unauthorized", "Invalid or expired token")
            g.actor, g.user_id = actor, actor.user_id
            return fn(*args, **kwargs)

        docs = getattr(fn, "_apidoc", {})
        wrapper._apidoc = {**docs, "manual_doc": {**docs.get("manual_doc", {}), "security": BEARER}}
        return wrapper

    return decorate(view) if view else decorate


def session_of_refresh_token(token: str, user_id: str) -> str | None:
    """The session id in a refresh token of `user_id`; None for anything else."""
    try:
        claims = decode_token(token)
    except Exception:  # any PyJWT / flask-jwt-extended failure: not a usable token
        return None
    if claims.get("type") != "refresh" or claims.get("sub") != user_id:
        return None
    return claims.get("sid")


def actor_from_token(token: str, principals) -> Actor | None:
    """For WebSockets (`?token=`): verify an access token by hand; None when it is not valid,
    its session is not live or not its user's, or its user is unknown or deactivated."""
    try:
        claims = decode_token(token)
    except Exception:  # any PyJWT / flask-jwt-extended failure means "not authenticated"
        return None
    if claims.get("type") != "access":
        return None
    return principals.actor(claims.get("sub"), claims.get("sid"), _client_ip())
