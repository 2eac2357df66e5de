"""Conversation trees under /api/v1: editing a message, the tree, switching branches, forks,
and share links (public snapshots, readable without logging in)."""
from __future__ import annotations

import re

from controllers.blueprint import Blueprint
from controllers.deps import settings, use_cases
from controllers.idempotency import idempotent
from controllers.rate_limits import limit_messages
from controllers.schemas.talk_tree import (
    CurrentLeafSchema,
    EditMessageSchema,
    ForkSchema,
    ShareCreateSchema,
    SharedForkSchema,
    SharedTalkSchema,
    ShareListSchema,
    ShareSchema,
    TalkTreeSchema,
)
from controllers.schemas.talks import (
    SSE_DESCRIPTION,
    SSE_SCHEMA,
    ExchangeSchema,
    TalkSchema,
)
from controllers.security import authenticated, current_actor
from controllers.sse import EVENT_STREAM, wants_stream
from controllers.talks import reply_options, resume_send, streamed
from entities.errors import NotFound
from entities.share import Share

blp = Blueprint("talk_tree", __name__, url_prefix="/api/v1",
                description="Conversation trees (edit, branches, forks) and share links")

SHARE_ID = re.compile(r"^[A-Za-z0-9_-]{16,64}$")


def share_body(share: Share) -> dict:
    """`{id, url, created_at, expires_at}`: `url` is the public link under PUBLIC_BASE_URL."""
    return {"id": share.id, "url": f"{settings().link_base_url}/api/v1/shared/{share.id}",
            "created_at": share.created_at, "expires_at": share.expires_at}


def checked_share_id(share_id: str) -> str:
    """A share id's shape (random URL-safe token) before any lookup: anything else is 404."""
    if not SHARE_ID.match(share_id):
        raise NotFound("Share not found")
    return share_id


# --- editing and branches ------------------------------------------------------------------------

@blp.patch("/talks/<talk_id>/messages/<message_id>")
@limit_messages
@authenticated
@blp.arguments(EditMessageSchema)
@idempotent(replay=resume_send)
@blp.response(201, ExchangeSchema)
@blp.alt_response(200, description=SSE_DESCRIPTION, schema=SSE_SCHEMA,
                  content_type=EVENT_STREAM, success=True)
@blp.alt_response(502, description="The model failed after fallbacks; both messages are stored")
@blp.alt_response(504, description="The model timed out; both messages are stored")
def edit_message(body, talk_id, message_id):
    """Edit a user message (a new branch)

    Body `{content, file_ids?, model?, temperature?, max_tokens?, stream?}`. Stores the new text
    as a sibling of the user message `message_id` (same `parent_id`; `file_ids` default to the
    original's), then generates a reply from the history before it, as `POST
    .../messages` does; the reply becomes the talk's `current_leaf_id`. The original message and
    everything after it are kept on their own branch (`GET .../tree`, `PUT .../current`).

    Without streaming: 201 `{user_message, assistant_message}`; with `stream: true` or `Accept:
    text/event-stream`: the SSE events of a send (`user_message` is the edited copy).
    Idempotent with an `Idempotency-Key` header or `client_message_id`, like a send.

    402 when a budget is spent; 403 for a viewer; 404 for an unknown message or a talk that is
    not the caller's, or an unknown file; 409 while another reply of the talk is being generated,
    or `idempotency_conflict`; 422 when `message_id` is not a user message, for blank content, an
    unknown model or invalid fields; 429 over RATELIMIT_LLM; 502 or 504 when the model failed or
    timed out (both messages stored)."""
    chat, user_id = use_cases().chat, current_actor().user_id
    stream = wants_stream(body.get("stream"))
    result = chat.edit(user_id, talk_id, message_id, body["content"], reply_options(body),
                       body.get("file_ids"), stream=stream)
    if stream:
        user_message, generation = result
        return streamed(talk_id, user_message, generation)
    return result


@blp.get("/talks/<talk_id>/tree")
@authenticated
@blp.response(200, TalkTreeSchema)
def talk_tree(talk_id):
    """A talk's tree of messages (no content)

    200 `{current_leaf_id, nodes: [{id, parent_id, role, status, created_at, children: [ids]}]}`,
    nodes and children oldest first; a root has `parent_id` null (a first message and its edited
    versions are roots). Read from one projection, without message contents: cheap for long
    talks. Deleted messages are left out (their children hang from the nearest live ancestor).

    404 for a talk that is not the caller's."""
    tree = use_cases().branches.tree(current_actor().user_id, talk_id)
    return {"current_leaf_id": tree.current_leaf_id, "nodes": [
        {"id": item.node.id, "parent_id": item.node.parent_id, "role": item.node.role,
         "status": item.node.status, "created_at": item.node.created_at,
         "children": item.children} for item in tree.nodes]}


@blp.put("/talks/<talk_id>/current")
@authenticated
@blp.arguments(CurrentLeafSchema)
@blp.response(200, TalkSchema)
def switch_branch(body, talk_id):
    """Switch the branch shown

    Body `{leaf_id}`: a message of the talk. A message with messages after it selects the most
    recently created leaf below it (the branch last added to), so picking any message of a
    branch shows that branch. 200 with the talk and its new `current_leaf_id`; message reads, the
    model's context and exports follow it from then on.

    403 for a viewer; 404 for a talk that is not the caller's; 422 for an id that is not a live
    message of this talk."""
    return use_cases().branches.switch(current_actor().user_id, talk_id, body["leaf_id"])


@blp.post("/talks/<talk_id>/fork")
@authenticated
@blp.arguments(ForkSchema)
@idempotent
@blp.response(201, TalkSchema)
def fork_talk(body, talk_id):
    """Fork a talk at a message

    Body `{message_id}`. 201 a new talk of the caller's, in the same workspace, named `<name>
    (fork)`, with the talk's model, system prompt and tags and a copy of the path from the root
    to `message_id` (timestamps kept; attachments referenced, not copied); the copy of
    `message_id` is its current leaf. The source talk is unchanged. Idempotent with an
    `Idempotency-Key` header or `client_message_id`.

    403 for a viewer of the workspace; 404 for a talk that is not the caller's or an unknown
    message; 422 for invalid fields."""
    return use_cases().branches.fork(current_actor().user_id, talk_id, body["message_id"])


# --- share links ---------------------------------------------------------------------------------

@blp.post("/talks/<talk_id>/shares")
@authenticated
@blp.arguments(ShareCreateSchema)
@idempotent
@blp.response(201, ShareSchema)
def create_share(body, talk_id):
    """Share a talk (public read-only link)

    Body `{expires_at?}`. 201 `{id, url, created_at, expires_at}`: `url` shows an immutable
    snapshot of the current path (`{title, messages: [{role, content, created_at, model}]}`) to
    anyone who has it, without logging in, until revoked or expired. Messages added or edited
    later do not change it; failed replies are left out, and so are an agent's tool calls and
    tool results (its final answer is kept); no ids, no usage and no attachments (neither bytes
    nor names) are in it. The id is 128 random bits.

    403 for a viewer; 404 for a talk that is not the caller's; 413 `payload_too_large` when the
    path's text is over 8 MiB (fork it at an earlier message and share the fork); 422 for an
    `expires_at` in the past."""
    share = use_cases().shares.create(current_actor().user_id, talk_id, body.get("expires_at"))
    return share_body(share)


@blp.get("/talks/<talk_id>/shares")
@authenticated
@blp.response(200, ShareListSchema)
def list_shares(talk_id):
    """A talk's share links

    200 `{items: [{id, url, created_at, expires_at}]}`: the links not revoked (expired ones
    too), newest first.

    404 for a talk that is not the caller's."""
    shares = use_cases().shares.for_talk(current_actor().user_id, talk_id)
    return {"items": [share_body(share) for share in shares]}


@blp.delete("/shares/<share_id>")
@authenticated
@blp.response(204)
def revoke_share(share_id):
    """Revoke a share link

    204; the link answers 404 from then on, on every worker.

    404 for an unknown, already revoked or another user's link."""
    use_cases().shares.revoke(current_actor().user_id, checked_share_id(share_id))


@blp.get("/shared/<share_id>")
@blp.response(200, SharedTalkSchema)
def read_shared(share_id):
    """A shared talk (public, no login)

    200 `{title, messages: [{role, content, created_at, model}], created_at}`: the snapshot taken
    when the link was made. Sent with `Cache-Control: no-store` (a revoked link is not served
    from a cache) and `X-Robots-Tag: noindex`.

    404 for a revoked, expired or unknown link, one whose talk was deleted, or one whose maker
    has left the talk's workspace (the same answer for each)."""
    share = use_cases().shares.read(checked_share_id(share_id))
    return ({"title": share.title, "messages": share.messages, "created_at": share.created_at},
            200, {"Cache-Control": "no-store", "X-Robots-Tag": "noindex"})


@blp.post("/shared/<share_id>/fork")
@authenticated
@blp.arguments(SharedForkSchema)
@idempotent
@blp.response(201, TalkSchema)
def fork_shared(body, share_id):
    """Continue a shared talk in a talk of one's own

    Body `{workspace_id?}` (default: the caller's personal workspace). 201 a new talk of the
    caller's holding the snapshot's messages (the last one current), named as the snapshot.
    Idempotent with an `Idempotency-Key` header or `client_message_id`.

    403 for a viewer of the workspace; 404 for a revoked, expired or unknown link, or a
    workspace the caller is not in."""
    return use_cases().shares.fork(current_actor().user_id, checked_share_id(share_id),
                                   body.get("workspace_id"))

