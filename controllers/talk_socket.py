"""WebSocket `/api/v1/ws/talks/{talk_id}?token=`: send, stop and resume replies in one talk.

Client frames: `{"type": "message", "content", "model"?, "file_ids"?, "temperature"?,
"max_tokens"?, "client_message_id"?}`, `{"type": "stop"}`, `{"type": "resume", "message_id",
"after"?}`. Server frames: the SSE events as `{"type": <name>, "seq", ...}` (`user_message`,
`start`, `delta`, `done`, `error`), `seq` as the SSE `id` (0 for `user_message` and `start`, one
per delta, then the end). A resume sends the reply's frames after `after` (all without it),
nothing when the reply has ended and `after` is its end. A message frame with
`client_message_id` is idempotent like `POST /talks/{id}/messages` with that Idempotency-Key (the
same key there or here sends once; a repeat resumes the first reply from its start). Closes with
4401 for a bad token and 4404 for a talk the caller may not see. Once open, it closes with 4401
within a few seconds when the session ends (logout, logout-all, password change or reset,
deactivation, role change) or the talk stops being the caller's to see (removed from its
workspace, workspace deleted); no client frame is acted upon after the session ended.
"""
from __future__ import annotations

from marshmallow import Schema, ValidationError, fields, validate
from simple_websocket import ConnectionClosed

from controllers import json_policy
from controllers.deps import use_cases
from controllers.errors import status_for
from controllers.rate_limits import charge_model_calls, round_charger
from controllers.realtime import (
    CLOSE_NOT_FOUND,
    authenticate,
    close_revoked,
    document_socket,
    send_json,
    sock,
    watch_session,
)
from controllers.schemas.talks import ID, MAX_CONTENT, MessageSchema
from controllers.talks import TALK_REPLY, render_event
from entities.errors import DomainError, NotFound
from entities.idempotency import StoredResponse
from use_cases.chat.chat import Chat, ReplyOptions
from use_cases.chat.generations import Feed
from use_cases.identity.revocation import Watch
from use_cases.shared.idempotency import fingerprint

PATH = "/api/v1/ws/talks/<talk_id>"
IDLE_WAIT_S = 1.0  # how long to wait for a client frame when no reply is being followed
# While following a reply, events are sent the moment they come; client frames (a stop) are
# read between events, or after this long without one.
EVENT_WAIT_S = 0.25


class SocketMessageSchema(Schema):
    type = fields.String(required=True, validate=validate.Equal("message"))
    content = fields.String(required=True, validate=validate.Length(min=1, max=MAX_CONTENT))
    model = fields.String(allow_none=True, validate=validate.Length(max=200))
    file_ids = fields.List(fields.String(validate=ID), load_default=list,
                           validate=validate.Length(max=20))
    temperature = fields.Float(allow_none=True, validate=validate.Range(min=0, max=2))
    max_tokens = fields.Integer(allow_none=True, validate=validate.Range(min=1, max=1_000_000))
    client_message_id = fields.String(validate=validate.Regexp(r"^[\x21-\x7e]{1,255}$"))


class SocketResumeSchema(Schema):
    type = fields.String(required=True, validate=validate.Equal("resume"))
    message_id = fields.String(required=True, validate=ID)
    after = fields.Integer(validate=validate.Range(min=0, max=10**15))


message_schema = MessageSchema()


def error_frame(code: str, message: str, details: dict | None = None) -> dict:
    return {"type": "error", "code": code, "message": message, "details": details or {}}


ACTING_FRAMES = ("message", "stop", "resume")


class TalkSocket:
    def __init__(self, ws, chat: Chat, user_id: str, talk_id: str, watch: Watch):
        self.ws = ws
        self.chat = chat
        self.user_id = user_id
        self.talk_id = talk_id
        self.watch = watch
        self.feed: Feed | None = None

    def run(self) -> None:
        try:
            while self.ws.connected:
                if not self.watch.live():
                    close_revoked(self.ws)
                    return
                frame = self.ws.receive(timeout=0 if self.feed else IDLE_WAIT_S)
                if frame is not None:
                    self.handle(frame)
                if self.feed is not None and self.ws.connected:
                    self.forward()
        except ConnectionClosed:
            pass  # the client left; a reply being generated goes on
        finally:
            self.follow(None)

    def forward(self) -> None:
        event = self.feed.next(timeout=EVENT_WAIT_S)
        if event is not None and self.watch.live():
            send_json(self.ws, {"type": event.type, "seq": event.seq, **render_event(event)})
        if self.feed.ended:
            self.follow(None)

    def follow(self, feed: Feed | None) -> None:
        if self.feed is not None:
            self.feed.close()
        self.feed = feed

    def handle(self, frame: str | bytes) -> None:
        try:
            data = json_policy.loads(frame)  # the HTTP bodies' policy
            kind = data.get("type") if isinstance(data, dict) else None
            if kind in ACTING_FRAMES and not self.watch.confirm():
                close_revoked(self.ws)  # the session ended: the frame is not acted upon
                return
            if kind == "message":
                charge_model_calls(f"user:{self.user_id}")  # RATELIMIT_LLM, as HTTP sends
                self.send(SocketMessageSchema().load(data))
            elif kind == "stop":
                self.chat.stop(self.user_id, self.talk_id, wait=False)
            elif kind == "resume":
                body = SocketResumeSchema().load(data)
                self.resume(body["message_id"], body.get("after", -1))
            else:
                send_json(self.ws, error_frame(
                    "bad_request", "Expected a frame of type message, stop or resume"))
        except json_policy.InputRejected as error:
            send_json(self.ws, error_frame("bad_request", str(error)))
        except ValueError:  # json.JSONDecodeError
            send_json(self.ws, error_frame("bad_request", "Frames must be JSON objects"))
        except ValidationError as error:
            send_json(self.ws, error_frame("validation_error", "Frame validation failed",
                                           error.normalized_messages()))
        except DomainError as error:
            send_json(self.ws, error_frame(error.code, error.message, error.details))

    def resume(self, message_id: str, after: int = -1) -> None:
        feed = self.chat.follow(self.user_id, self.talk_id, message_id, after)
        if feed.exhausted:
            feed.close()
            return
        self.follow(feed)

    def send(self, body: dict) -> None:
        key = body.pop("client_message_id", None)
        body.pop("type")
        held = None
        if key is not None:  # as POST /talks/{id}/messages with `stream: true` and this key
            outcome = use_cases().idempotency.begin(
                self.user_id, f"POST /api/v1/talks/{self.talk_id}/messages", key,
                fingerprint([{**body, "stream": True}]))
            if isinstance(outcome, StoredResponse):
                self.replay(outcome)
                return
            held = outcome
        options = ReplyOptions(model=body.get("model"), temperature=body.get("temperature"),
                               max_tokens=body.get("max_tokens"),
                               charge_round=round_charger(f"user:{self.user_id}"))
        try:
            user_message, generation = self.chat.send_streaming(
                self.user_id, self.talk_id, body["content"], options, body["file_ids"])
        except DomainError as error:
            if held is not None:
                held.finish(StoredResponse(status_for(error), {"error": {
                    "code": error.code, "message": error.message, "details": error.details}}))
            raise
        except BaseException:
            if held is not None:
                held.release()
            raise
        if held is not None:
            held.finish(StoredResponse(200, kind=TALK_REPLY, refs={
                "talk_id": self.talk_id, "user_message_id": user_message.id,
                "message_id": generation.message.id}))
        send_json(self.ws, {"type": "user_message", "seq": 0,
                            **message_schema.dump(user_message)})
        self.follow(generation.follow())

    def replay(self, stored: StoredResponse) -> None:
        """The first send of this key: its user message, then its reply from the start."""
        if stored.kind == TALK_REPLY:
            user_message_id, reply_id = stored.refs["user_message_id"], stored.refs["message_id"]
        elif stored.status < 400:
            user_message_id = stored.body["user_message"]["id"]
            reply_id = stored.body["assistant_message"]["id"]
        else:
            error = stored.body.get("error", {})
            send_json(self.ws, error_frame(error.get("code", "error"), error.get("message", ""),
                                           error.get("details")))
            return
        user_message = self.chat.message(self.user_id, self.talk_id, user_message_id)
        send_json(self.ws, {"type": "user_message", "seq": 0, "replayed": True,
                            **message_schema.dump(user_message)})
        self.resume(reply_id)


@sock.route(PATH)
def talk_socket(ws, talk_id):
    actor = authenticate(ws)
    if actor is None:
        return
    talks = use_cases().talks
    try:
        talk = talks.visible(actor.user_id, talk_id)
    except NotFound:
        ws.close(CLOSE_NOT_FOUND, "talk not found")
        return
    with watch_session(actor, talk.workspace_id,
                       allowed=lambda: talks.visible(actor.user_id, talk_id)) as watch:
        TalkSocket(ws, use_cases().chat, actor.user_id, talk_id, watch).run()


def document(api) -> None:
    document_socket(api, PATH, "talks", "WebSocket: send, stop and resume replies in a talk", __doc__,
                    "4401 (bad token, session ended) or 4404 (talk not visible)")
