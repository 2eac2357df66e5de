"""ChatAI-compatible routes under /api: the same users, talks and messages as v1, under the
route names the ChatAI frontend uses."""
from __future__ import annotations

from flask_smorest import Blueprint
from marshmallow import Schema, fields, validate

from controllers.auth import client_info, login_body
from controllers.deps import use_cases
from controllers.rate_limits import limit_auth, limit_messages
from controllers.schemas.identity import AuthResultSchema, LoginSchema, UserSchema
from controllers.schemas.talks import ID, MAX_CONTENT, ExchangeSchema, MessageSchema, TalkSchema
from controllers.security import authenticated, current_actor
from entities.pagination import PageRequest
from use_cases.chat.chat import ReplyOptions

blp = Blueprint("chatai", __name__, url_prefix="/api",
                description="ChatAI-compatible routes (same data and rules as /api/v1)")

ALL_TALKS = PageRequest(1, 1000)


class NewTalkSchema(Schema):
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


class NewMessageSchema(Schema):
    talk_id = fields.String(required=True, validate=ID)
    content = fields.String(required=True, validate=validate.Length(min=1, max=MAX_CONTENT))
    model = fields.String(allow_none=True, validate=validate.Length(max=200))


@blp.post("/login")
@limit_auth
@blp.arguments(LoginSchema)
@blp.response(200, AuthResultSchema)
@blp.alt_response(401, description="Invalid credentials")
def login(body):
    return login_body(use_cases().accounts.login(body["email"], body["password"], client_info()))


@blp.get("/me")
@authenticated
@blp.response(200, UserSchema)
def me():
    return use_cases().accounts.me(current_actor().user_id)


@blp.get("/talk-user")
@authenticated
@blp.response(200, TalkSchema(many=True))
def my_talks():
    """Every live talk of the caller (archived ones too), newest activity first."""
    page = use_cases().talks.list(current_actor().user_id, None, ALL_TALKS, archived=None)
    return list(page.items)


@blp.post("/talk")
@limit_messages
@authenticated
@blp.arguments(NewTalkSchema)
@blp.response(201, NewTalkResultSchema)
def new_talk(body):
    """A talk in the caller's personal workspace, opened with `message` and its reply."""
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
    return use_cases().talks.update(current_actor().user_id, body["talk_id"], name=body["name"])


@blp.delete("/talk")
@authenticated
@blp.arguments(TalkIdSchema)
@blp.response(204)
def delete_talk(body):
    """Soft delete (restorable through `POST /api/v1/talks/{id}/restore`)."""
    use_cases().talks.delete(current_actor().user_id, body["talk_id"])


@blp.get("/messages-by-talk")
@authenticated
@blp.arguments(TalkIdSchema, location="query")
@blp.response(200, MessageSchema(many=True))
def messages_by_talk(query):
    """Every live message of the talk, oldest first."""
    return use_cases().talks.all_messages(current_actor().user_id, query["talk_id"])


@blp.post("/message")
@limit_messages
@authenticated
@blp.arguments(NewMessageSchema)
@blp.response(201, ExchangeSchema)
def new_message(body):
    return use_cases().chat.send(current_actor().user_id, body["talk_id"], body["content"],
                                 ReplyOptions(model=body.get("model")))
