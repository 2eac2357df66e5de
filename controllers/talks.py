"""/api/v1/talks and /api/v1/search: conversations, their messages, streaming replies."""
from __future__ import annotations

from io import BytesIO

from flask import Response, send_file

from controllers.blueprint import Blueprint
from controllers.deps import use_cases
from controllers.idempotency import claim, idempotent
from controllers.rate_limits import limit_messages, round_charger
from controllers.schemas.common import page_body, page_of
from controllers.schemas.talks import (
    SSE_DESCRIPTION,
    SSE_SCHEMA,
    ExchangeSchema,
    ExportQuerySchema,
    MessagePageQuerySchema,
    MessagePageSchema,
    MessageSchema,
    ReplyOptionsSchema,
    ResumeQuerySchema,
    SearchHitSchema,
    SearchQuerySchema,
    SendMessageSchema,
    StoppedSchema,
    TalkCreateSchema,
    TalkListQuerySchema,
    TalkSchema,
    TalkUpdateSchema,
)
from controllers.security import authenticated, current_actor
from controllers.sse import (
    EVENT_STREAM,
    feed_frames,
    keepalive_seconds,
    last_event_id,
    sse_frame,
    sse_response,
    wants_stream,
    watch_caller,
)
from entities.idempotency import StoredResponse
from entities.pagination import PageRequest
from use_cases.chat.chat import ReplyOptions
from use_cases.chat.generations import Feed, Generation, StreamEvent

blp = Blueprint("talks", __name__, url_prefix="/api/v1",
                description="Talks (conversations), messages and streaming replies")

message_schema = MessageSchema()
TALK_REPLY = "talk_reply"  # an idempotent send's kept answer: the ids of its streamed reply


def render_event(event: StreamEvent) -> dict:
    """A stream event as the client sees it (SSE data, or a WebSocket frame without `type`)."""
    if event.type == "done":
        return {"message": message_schema.dump(event.data["message"])}
    if event.type == "delta":
        return {"content": event.data["content"]}
    return dict(event.data)


def stream_reply(talk_id: str, user_message, feed: Feed):
    """The reply as SSE, for as long as the caller's session lives and the talk is theirs."""
    talks, user_id = use_cases().talks, current_actor().user_id
    watch = watch_caller(user_message.workspace_id if user_message else None,
                         allowed=lambda: talks.visible(user_id, talk_id))
    first = [sse_frame("user_message", message_schema.dump(user_message), 0)] if user_message else []
    return sse_response(feed_frames(first, feed, render_event, keepalive_seconds(), watch))


def streamed(talk_id: str, user_message, generation: Generation):
    """A reply streamed to the request that asked for it; an idempotent request keeps the
    reply's ids, so that a repeat resumes it (`resume_send`) instead of sending again."""
    held = claim()
    if held is not None:
        held.finish(StoredResponse(200, kind=TALK_REPLY, refs={
            "talk_id": talk_id, "user_message_id": user_message.id,
            "message_id": generation.message.id}))
    return stream_reply(talk_id, user_message, generation.follow())


def resume(talk_id: str, message_id: str, after: int | None, user_message=None) -> Response:
    """The reply's events after `after` (None: all of them, `user_message` first when given),
    live until it ends; 204 when it has ended and the client has every event."""
    chat, user_id = use_cases().chat, current_actor().user_id
    feed = chat.follow(user_id, talk_id, message_id, -1 if after is None else after)
    if feed.exhausted:
        feed.close()
        return Response(status=204)
    return stream_reply(talk_id, user_message if after is None else None, feed)


def resume_send(stored: StoredResponse) -> Response:
    """A repeated streamed send (the same Idempotency-Key): the first send's reply, resumed
    after the repeat's Last-Event-ID (fetch-event-source sends it when it retries)."""
    refs = stored.refs
    user_message = use_cases().chat.message(current_actor().user_id, refs["talk_id"],
                                            refs["user_message_id"])
    return resume(refs["talk_id"], refs["message_id"], last_event_id(), user_message)


def reply_options(body: dict) -> ReplyOptions:
    """The body's model settings; an agent's later rounds count against RATELIMIT_LLM."""
    return ReplyOptions(model=body.get("model"), temperature=body.get("temperature"),
                        max_tokens=body.get("max_tokens"),
                        charge_round=round_charger(f"user:{current_actor().user_id}"))


# --- talks --------------------------------------------------------------------------------------

@blp.get("/talks")
@authenticated
@blp.arguments(TalkListQuerySchema, location="query")
@blp.response(200, page_of(TalkSchema))
def list_talks(query):
    """List the caller's talks

    The caller's talks, pinned first, then newest activity first. Query `workspace_id` (default:
    every workspace of the caller), `q` (part of the name), `archived`, `deleted` (the trash),
    `page`, `size`. 200 page of talks. Talks are private to their user: other members' talks never
    appear.

    404 for a workspace the caller is not in."""
    page = use_cases().talks.list(
        current_actor().user_id, query.get("workspace_id"),
        PageRequest(query["page"], query["size"]), name_contains=query.get("q"),
        archived=query["archived"], deleted=query["deleted"])
    return page_body(page)


@blp.post("/talks")
@authenticated
@blp.arguments(TalkCreateSchema)
@idempotent
@blp.response(201, TalkSchema)
def create_talk(body):
    """Create a talk

    Body `{workspace_id?, name?, model?, system_prompt?, tags?, agent_id?}` (default workspace:
    the caller's personal one). 201 `{id, workspace_id, name, model, system_prompt, agent_id,
    tags, archived, pinned, message_count, last_message_at, created_at, updated_at}`. A talk
    without a name is named by its first exchange. With `agent_id` (an agent of the workspace;
    404 otherwise) the agent replies: its model, instructions and tools; tool calls and results
    are stored as messages and streamed as `tool_call` / `tool_result` events.

    With an `Idempotency-Key` header (or `client_message_id` in the body), a repeat within 24 h
    creates nothing and gets the first answer; the same key with another body is 409
    `idempotency_conflict`.

    403 for a viewer of the workspace; 404 for a workspace the caller is not in; 422 for an unknown
    model or invalid fields."""
    return use_cases().talks.create(current_actor().user_id, body.get("workspace_id"), **{
        key: body.get(key) for key in ("name", "model", "system_prompt", "tags", "agent_id")})


@blp.get("/talks/<talk_id>")
@authenticated
@blp.response(200, TalkSchema)
def get_talk(talk_id):
    """One of the caller's talks

    200 with the talk.

    404 for an unknown or deleted talk, or another user's (talks are private, even from workspace
    admins)."""
    return use_cases().talks.visible(current_actor().user_id, talk_id)


@blp.patch("/talks/<talk_id>")
@authenticated
@blp.arguments(TalkUpdateSchema)
@blp.response(200, TalkSchema)
def update_talk(body, talk_id):
    """Change a talk

    Body any of `{name, model, system_prompt, tags, archived, pinned}`. 200 with the talk.

    403 when the caller is only a viewer of the talk's workspace; 404 for a talk that is not the
    caller's; 422 for an unknown model or invalid fields."""
    return use_cases().talks.update(current_actor().user_id, talk_id, **body)


@blp.delete("/talks/<talk_id>")
@authenticated
@blp.response(204)
def delete_talk(talk_id):
    """Delete a talk (soft)

    Soft delete: the talk leaves every list and search; `POST .../restore` brings it back. 204.

    403 for a viewer of the workspace; 404 for a talk that is not the caller's."""
    use_cases().talks.delete(current_actor().user_id, talk_id)


@blp.post("/talks/<talk_id>/restore")
@authenticated
@blp.response(200, TalkSchema)
def restore_talk(talk_id):
    """Restore a deleted talk

    200 with the talk, back in lists and search.

    403 for a viewer of the workspace; 404 for a talk that is not the caller's."""
    return use_cases().talks.restore(current_actor().user_id, talk_id)


@blp.get("/talks/<talk_id>/export")
@authenticated
@blp.arguments(ExportQuerySchema, location="query")
@blp.response(200, description="The whole conversation as an attachment (JSON or Markdown)",
              content_type="application/octet-stream")
def export_talk(query, talk_id):
    """Download a whole talk

    Query `format`: `json` (default: the talk and every message of every branch, each with its
    `parent_id`) or `markdown` (the current path: root to `current_leaf_id`). 200 with the
    conversation as an attachment, `<name>-<id>.json` or `<name>-<id>.md`.

    404 for a talk that is not the caller's; 422 for another format."""
    export = use_cases().talks.export(current_actor().user_id, talk_id, query["format"])
    return send_file(BytesIO(export.body.encode()), mimetype=export.content_type,
                     as_attachment=True, download_name=export.filename, max_age=0)


@blp.get("/search")
@authenticated
@blp.arguments(SearchQuerySchema, location="query")
@blp.response(200, page_of(SearchHitSchema))
def search(query):
    """Search the caller's talks and messages

    The caller's talk names, then messages, containing `q` (1 to 200 characters). Query
    `workspace_id?`, `page`, `size`. 200 page of `{talk_id, talk_name, message_id, snippet,
    created_at}`; `message_id` is null where the talk's name matched. Deleted talks are left out.

    404 for a workspace the caller is not in; 422 for a blank `q`."""
    page = use_cases().talks.search(current_actor().user_id, query["q"],
                                    query.get("workspace_id"),
                                    PageRequest(query["page"], query["size"]))
    return page_body(page)


# --- messages -----------------------------------------------------------------------------------

@blp.get("/talks/<talk_id>/messages")
@authenticated
@blp.arguments(MessagePageQuerySchema, location="query")
@blp.response(200, MessagePageSchema)
def list_messages(query, talk_id):
    """A page of a talk's messages

    The current branch: the path from the root to the talk's `current_leaf_id` (following
    `parent_id`); with `branch=all`, every message of every branch in creation order.
    Cursor-based: query `limit` (1 to 100, default 50) and `before` (a message id: the messages
    before it). 200 `{items: [oldest..newest], has_more, next_before}`; pass `next_before` as
    `before` for the page before. A message is `{id, talk_id, role, content, status, model,
    parent_id, file_ids, usage: {prompt_tokens, completion_tokens, total_tokens, cost_usd},
    latency_ms, error, created_at, updated_at}`.

    With `before`, the page holds the messages above it on its own branch (a cursor keeps paging
    back through the branch it came from).

    404 for a talk that is not the caller's; 422 for a `before` that is not a message of the
    talk, or another `branch`."""
    page = use_cases().talks.messages_page(current_actor().user_id, talk_id, query["limit"],
                                           query.get("before"),
                                           every_branch=query["branch"] == "all")
    return {"items": page.items, "has_more": page.has_more, "next_before": page.next_before}


@blp.post("/talks/<talk_id>/messages")
@limit_messages
@authenticated
@blp.arguments(SendMessageSchema)
@idempotent(replay=resume_send)
@blp.response(201, ExchangeSchema)
@blp.alt_response(200, description=SSE_DESCRIPTION, schema=SSE_SCHEMA,
                  content_type=EVENT_STREAM, success=True)
@blp.alt_response(502, description="The model failed after fallbacks; both messages are stored")
@blp.alt_response(504, description="The model timed out; both messages are stored")
def send_message(body, talk_id):
    """Send a message and get the model's reply

    Body `{content, model?, file_ids?, temperature?, max_tokens?, stream?}`. The user message is
    stored before the model is called; a failed reply is stored with status `failed` (its id in the
    error's details). The reply uses the talk's history, system prompts, the text of attached files
    and the workspace's provider keys.

    Without streaming: 201 `{user_message, assistant_message}`. With `stream: true` or `Accept:
    text/event-stream`: `retry: 3000`, then SSE events `user_message`, `start` `{message_id,
    model}`, `delta` `{content}` (many), then `done` `{message}` or `error` `{code, message}`,
    each with `id: <seq>` (0 for `user_message` and `start`, then one per delta, then the end),
    with keep-alive comments; a client that disconnects does not stop the reply, which is stored.

    Idempotent with an `Idempotency-Key` header or `client_message_id` in the body: a repeat
    within 24 h stores nothing and gets the first answer (`Idempotent-Replayed: true`); for a
    streamed send, the first reply's events after the repeat's `Last-Event-ID` (204 when it has
    ended and nothing is after it).

    402 when a budget is spent; 403 for a viewer; 404 for a talk that is not the caller's or an
    unknown file; 409 while another reply of the talk is being generated, or
    `idempotency_conflict` for a key used with another body (or whose first request is still
    running); 422 for an unknown model or invalid fields; 429 over RATELIMIT_LLM; 502 or 504 when
    the model failed or timed out (both messages stored)."""
    chat, user_id = use_cases().chat, current_actor().user_id
    options = reply_options(body)
    if wants_stream(body.get("stream")):
        user_message, generation = chat.send_streaming(user_id, talk_id, body["content"],
                                                       options, body["file_ids"])
        return streamed(talk_id, user_message, generation)
    exchange = chat.send(user_id, talk_id, body["content"], options, body["file_ids"])
    return exchange


@blp.post("/talks/<talk_id>/messages/<message_id>/regenerate")
@limit_messages
@authenticated
@blp.arguments(ReplyOptionsSchema)
@idempotent(replay=resume_send)
@blp.response(201, ExchangeSchema)
@blp.alt_response(200, description=SSE_DESCRIPTION, schema=SSE_SCHEMA,
                  content_type=EVENT_STREAM, success=True)
def regenerate(body, talk_id, message_id):
    """Generate a new reply to the same user message

    A new reply to the user message the reply `message_id` answered, stored as a sibling of the
    old one and made the talk's current leaf; the old reply stays reachable on its branch (`GET
    .../tree`, `PUT .../current`) with status `superseded`. Body `{model?, temperature?,
    max_tokens?, stream?}`. 201 `{user_message, assistant_message}`, or SSE events as when
    sending a message.

    With an `Idempotency-Key` header (or `client_message_id` in the body), a repeat within 24 h
    creates nothing and gets the first answer; the same key with another body is 409
    `idempotency_conflict`.

    402 when a budget is spent; 403 for a viewer; 404 for an unknown message or a talk that is not
    the caller's; 409 while another reply is being generated; 422 when `message_id` is not an
    assistant reply, or for an unknown model; 429 over RATELIMIT_LLM; 502 or 504 when the model
    failed or timed out."""
    stream = wants_stream(body.get("stream"))
    result = use_cases().chat.regenerate(current_actor().user_id, talk_id, message_id,
                                         reply_options(body), stream=stream)
    if stream:
        user_message, generation = result
        return streamed(talk_id, user_message, generation)
    return result


@blp.post("/talks/<talk_id>/stop")
@authenticated
@blp.response(200, StoppedSchema)
def stop(talk_id):
    """Stop the reply being generated

    Stops the talk's reply being generated (on whichever worker); its partial text is saved with
    status `stopped`. 200 `{messages}`: the stopped replies as stored, after waiting up to 5 seconds
    for them (empty when nothing was being generated).

    403 for a viewer; 404 for a talk that is not the caller's."""
    stopped = use_cases().chat.stop(current_actor().user_id, talk_id)
    return {"messages": [message for message in stopped if message is not None]}


@blp.get("/talks/<talk_id>/messages/<message_id>/stream")
@authenticated(query_token=True)
@blp.arguments(ResumeQuerySchema, location="query")
@blp.response(200, SSE_SCHEMA, content_type=EVENT_STREAM, description=(
    "SSE: `retry: 3000`, then the reply's events after the client's last (`start`, the text as "
    "one `delta`, the following `delta`s live, then `done` or `error`), each with `id: <seq>`; "
    "keep-alive comments at least every 15 s"))
@blp.alt_response(204, description="The reply has ended and the client has every event")
def follow_reply(query, talk_id, message_id):
    """Resume a reply (SSE)

    Replays a reply after the last event the client has, then follows it live until it ends,
    whichever worker generates it. The last event is the `Last-Event-ID` header (an EventSource
    sends it when it reconnects) or `?after=<seq>`, the greater of the two; without either, from
    `start`. Events: `start` (seq 0), the text after the last event as one `delta` (with the id
    of the last delta it holds), the following `delta`s live, then `done` (the stored message) or
    `error`, each with `id: <seq>`; keep-alive comments at least every 15 s.

    204 when the reply has ended and the client's last event is its end (or past it): an
    EventSource then stops instead of replaying the reply again. Authenticated by `Authorization:
    Bearer` or, for EventSource (which cannot send headers), `?token=<access token>` (as
    WebSockets; it never appears in logs).

    401 for a missing, bad or revoked token; 404 for an unknown message or a talk that is not the
    caller's; 422 for a bad `after`."""
    afters = [value for value in (last_event_id(), query.get("after")) if value is not None]
    return resume(talk_id, message_id, max(afters) if afters else None)


@blp.delete("/talks/<talk_id>/messages/<message_id>")
@authenticated
@blp.response(204)
def delete_message(talk_id, message_id):
    """Delete a message (soft)

    204; the message leaves the talk's history, and so the context of later replies.

    403 for a viewer; 404 for an unknown message or a talk that is not the caller's."""
    use_cases().talks.delete_message(current_actor().user_id, talk_id, message_id)
