"""/api/v1/auth: accounts, tokens and login sessions."""
from __future__ import annotations

from flask import request
from flask_jwt_extended import get_jwt
from flask_smorest import Blueprint

from controllers.deps import settings, use_cases
from controllers.schemas.identity import (
    AuthResultSchema,
    LoginSchema,
    RegisterSchema,
    TokenPairSchema,
    UserSchema,
)
from controllers.security import authenticated, current_actor, issue_tokens
from use_cases.auth import ClientInfo

blp = Blueprint("auth", __name__, url_prefix="/api/v1/auth", description="Accounts and sessions")


def client_info() -> ClientInfo:
    return ClientInfo(ip=request.remote_addr, user_agent=request.user_agent.string)


def login_body(result) -> dict:
    return {"user": result.user, **issue_tokens(result.user, result.session, settings())}


@blp.post("/register")
@blp.arguments(RegisterSchema)
@blp.response(201, AuthResultSchema)
@blp.alt_response(409, description="E-mail already registered")
def register(body):
    result = use_cases().accounts.register(body["email"], body["password"], body["name"],
                                           client_info())
    return login_body(result)


@blp.post("/login")
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


@blp.get("/me")
@authenticated
@blp.response(200, UserSchema)
def me():
    return use_cases().accounts.me(current_actor().user_id)
