"""ChatAI-compatible routes under /api: the same users, talks and messages as v1, under the
route names the ChatAI frontend uses."""
from __future__ import annotations

from marshmallow import Schema, fields, validate

from controllers.auth import client_info, login_body
from controllers.blueprint import Blueprint
from controllers.deps import use_cases
from controllers.idempotency import idempotent
from controllers.rate_limits import limit_auth, limit_messages
from controllers.schemas.common import IdempotentBodySchema
from controllers.schemas.identity import AuthResultSchema, LoginSchema, UserSchema
from controllers.schemas.talks import ID, MAX_CONTENT, ExchangeSchema, MessageSchema, TalkSchema
from controllers.security import authenticated, current_actor
from entities.pagination import PageRequest
from use_cases.chat.chat import ReplyOptions

blp = Blueprint("chatai", __name__, url_prefix="/api",
                description="ChatAI-compatible routes (same data and rules as /api/v1)")

ALL_TALKS = PageRequest(1, 1000)


class NewTalkSchema(IdempotentBodySchema):
    message = fields.String(required=True, validate=validate.Length(min=1, max=MAX_CONTENT))
    name = fields.String(validate=validate.Length(max=200))
    model = fields.String(allow_none=True, validate=validate.Length(max=200))


class NewTalkResultSchema(Schema):
    talk = fields.Nested(TalkSchema, required=True)
    messages = fields.List(fields.Nested(MessageSchema), required=True,
                           metadata={"description": "[user_message, assistant_message]"})


class RenameTalkSchema(Schema):
    talk_id = fields.String(required=True, validate=ID)
    name = fields.String(required=True, validate=validate.Length(min=1, max=200))


class TalkIdSchema(Schema):
    talk_id = fields.String(required=True, validate=ID)


class NewMessageSchema(IdempotentBodySchema):
    talk_id = fields.String(required=True, validate=ID)
    content = fields.String(required=True, validate=validate.Length(min=1, max=MAX_CONTENT))
    model = fields.String(allow_none=True, validate=validate.Length(max=200))


@blp.post("/login")
@limit_auth
@blp.arguments(LoginSchema)
@blp.response(200, AuthResultSchema)
@blp.alt_response(401, description="Invalid credentials")
def login(body):
    """Sign in (ChatAI-compatible)

    As `POST /api/v1/auth/login`: body `{email, password}`, 200 `{user, access_token, refresh_token,
    token_type, expires_in}`.

    401 `invalid_credentials` for a wrong password and an unknown e-mail alike; 429 after too many
    attempts from one IP."""
    return login_body(use_cases().accounts.login(body["email"], body["password"], client_info()))


@blp.get("/me")
@authenticated
@blp.response(200, UserSchema)
def me():
    """The caller's account (ChatAI-compatible)

    As `GET /api/v1/auth/me`: 200 `{id, email, name, role, is_active, email_verified, created_at,
    updated_at}`.

    401 without a valid access token."""
    return use_cases().accounts.me(current_actor().user_id)


@blp.get("/talk-user")
@authenticated
@blp.response(200, TalkSchema(many=True))
def my_talks():
    """The caller's talks (ChatAI-compatible)

    Every live talk of the caller (archived ones too), newest activity first, as a plain list (no
    page envelope) of at most 1000 talks.

    401 without a valid access token."""
    page = use_cases().talks.list(current_actor().user_id, None, ALL_TALKS, archived=None)
    return list(page.items)


@blp.post("/talk")
@limit_messages
@authenticated
@blp.arguments(NewTalkSchema)
@idempotent
@blp.response(201, NewTalkResultSchema)
def new_talk(body):
    """Start a talk with a first message (ChatAI-compatible)

    A talk in the caller's personal workspace, opened with `message` and its reply. Body `{message,
    name?, model?}`. 201 `{talk, messages: [user_message, assistant_message]}`.

    With an `Idempotency-Key` header (or `client_message_id` in the body), a repeat within 24 h
    creates nothing and gets the first answer; the same key with another body is 409
    `idempotency_conflict`.

    402 when a budget is spent; 422 for an unknown model; 429 over RATELIMIT_LLM; 502 or 504 when
    the model failed or timed out (the talk and both messages are stored)."""
    c, user_id = use_cases(), current_actor().user_id
    talk = c.talks.create(user_id, None, name=body.get("name", ""), model=body.get("model"))
    exchange = c.chat.send(user_id, talk.id, body["message"])
    return {"talk": c.talks.visible(user_id, talk.id),
            "messages": [exchange.user_message, exchange.assistant_message]}


@blp.put("/talk")
@authenticated
@blp.arguments(RenameTalkSchema)
@blp.response(200, TalkSchema)
def rename_talk(body):
    """Rename a talk (ChatAI-compatible)

    Body `{talk_id, name}`. 200 with the talk.

    404 for a talk that is not the caller's; 422 for invalid fields."""
    return use_cases().talks.update(current_actor().user_id, body["talk_id"], name=body["name"])


@blp.delete("/talk")
@authenticated
@blp.arguments(TalkIdSchema)
@blp.response(204)
def delete_talk(body):
    """Delete a talk (ChatAI-compatible)

    Body `{talk_id}`. Soft delete (restorable through `POST /api/v1/talks/{id}/restore`). 204.

    404 for a talk that is not the caller's."""
    use_cases().talks.delete(current_actor().user_id, body["talk_id"])


@blp.get("/messages-by-talk")
@authenticated
@blp.arguments(TalkIdSchema, location="query")
@blp.response(200, MessageSchema(many=True))
def messages_by_talk(query):
    """A talk's messages (ChatAI-compatible)

    Query `talk_id`. Every live message of the talk, oldest first, as a plain list.

    404 for a talk that is not the caller's."""
    return use_cases().talks.all_messages(current_actor().user_id, query["talk_id"])


@blp.post("/message")
@limit_messages
@authenticated
@blp.arguments(NewMessageSchema)
@idempotent
@blp.response(201, ExchangeSchema)
def new_message(body):
    """Send a message and wait for the reply (ChatAI-compatible)

    Body `{talk_id, content, model?}`. As `POST /api/v1/talks/{id}/messages` without streaming: 201
    `{user_message, assistant_message}`.

    With an `Idempotency-Key` header (or `client_message_id` in the body), a repeat within 24 h
    creates nothing and gets the first answer; the same key with another body is 409
    `idempotency_conflict`.

    402 when a budget is spent; 404 for a talk that is not the caller's; 409 while another reply of
    the talk is being generated; 422 for an unknown model; 429 over RATELIMIT_LLM; 502 or 504 when
    the model failed or timed out (both messages stored)."""
    return use_cases().chat.send(current_actor().user_id, body["talk_id"], body["content"],
                                 ReplyOptions(model=body.get("model")))
