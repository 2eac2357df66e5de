"""Share links: a public, read-only, immutable snapshot of a talk's current path.

The snapshot is taken when the link is made (later messages, edits or branch switches do not
change it) and keeps each message's role, text, time and model only: no ids, no attachments
(neither their bytes nor their names), no usage, no agent's tool calls or tool results (its
final answer only). Anyone with the link reads it without logging
in until it is revoked, it expires, or its talk is deleted (then it is not found, like an id
never issued). A logged-in user can continue from it in a talk of their own.
"""
from __future__ import annotations

from dataclasses import replace
from datetime import datetime

from entities.clock import utcnow
from entities.errors import Forbidden, NotFound, PayloadTooLarge, ValidationFailed
from entities.share import Share, SharedMessage
from entities.talk import ON_PATH_CONTEXT, Message, MessageRole, MessageStatus, Talk
from use_cases.chat.ports import MessageRepository, ShareRepository
from use_cases.chat.talks import READ, WRITE, Talks

UNTITLED = "Untitled talk"
# a snapshot is one document (MongoDB: 16 MB at most), read whole by an unauthenticated route
MAX_SNAPSHOT_BYTES = 8 * 1024 * 1024  # its messages' text, UTF-8


class Shares:
    def __init__(self, talks: Talks, messages: MessageRepository, shares: ShareRepository):
        self.talks = talks
        self.messages = messages
        self.shares = shares

    def create(self, user_id: str, talk_id: str, expires_at: datetime | None = None) -> Share:
        """A link to a snapshot of the talk's current path (replies that failed or are still
        being written are left out). `expires_at` (aware) must be in the future. NotFound for a
        talk that is not the caller's; Forbidden for a viewer of its workspace;
        ValidationFailed (field `expires_at`) for a past time; PayloadTooLarge (413) when the
        messages' text is over MAX_SNAPSHOT_BYTES (nothing stored)."""
        talk = self.talks.visible(user_id, talk_id, WRITE)
        now = utcnow()
        if expires_at is not None and expires_at <= now:
            raise ValidationFailed("The link would already be expired",
                                   {"expires_at": ["Must be in the future."]})
        snapshot = [SharedMessage(role=m.role.value, content=m.content, created_at=m.created_at,
                                  model=m.model if m.role is MessageRole.ASSISTANT else None)
                    for m in self.messages.path(talk) if _shown(m)]
        size = sum(len(m.content.encode()) for m in snapshot)
        if size > MAX_SNAPSHOT_BYTES:
            raise PayloadTooLarge(
                "The talk is too long to share: fork it at an earlier message and share the fork",
                {"size_bytes": size, "limit_bytes": MAX_SNAPSHOT_BYTES})
        return self.shares.add(Share(
            id=self.shares.new_id(), talk_id=talk.id, user_id=user_id,
            workspace_id=talk.workspace_id, title=talk.name or UNTITLED, messages=snapshot,
            created_at=now, expires_at=expires_at))

    def for_talk(self, user_id: str, talk_id: str) -> list[Share]:
        """The talk's links not revoked (expired ones too), newest first."""
        talk = self.talks.visible(user_id, talk_id, READ)
        return self.shares.list_for_talk(talk.id, user_id)

    def revoke(self, user_id: str, share_id: str) -> None:
        """Ends a link of the caller's at once. NotFound for another user's, an unknown or an
        already revoked link."""
        if not self.shares.revoke(share_id, user_id):
            raise NotFound("Share not found")

    def read(self, share_id: str) -> Share:
        """The snapshot, for anyone with the link. NotFound when revoked, expired, its talk
        deleted, its maker no longer in the talk's workspace (removed: what they shared of it
        is no longer theirs to show), or never issued (the same answer for each)."""
        share = self.shares.get(share_id)
        if share is None or not share.readable(utcnow()):
            raise NotFound("Share not found")
        try:
            self.talks.visible(share.user_id, share.talk_id, READ)
        except (NotFound, Forbidden):
            raise NotFound("Share not found") from None
        # a snapshot taken before tool messages were left out keeps them: not shown either
        shown = (MessageRole.USER.value, MessageRole.ASSISTANT.value)
        return replace(share, messages=[m for m in share.messages
                                        if m.role in shown and m.content])

    def fork(self, user_id: str, share_id: str, workspace_id: str | None = None) -> Talk:
        """A new talk of the caller's (in `workspace_id`, default their personal workspace,
        where they are a member at least) holding the snapshot's messages, the last one
        current. NotFound as `read`, or for a workspace the caller is not in; Forbidden for a
        viewer of it."""
        share = self.read(share_id)
        messages = [Message(id="", talk_id="", workspace_id="", user_id=user_id,
                            role=MessageRole(m.role), content=m.content,
                            status=MessageStatus.COMPLETE, model=m.model, created_at=m.created_at)
                    for m in share.messages]
        source = Talk(id="", workspace_id="", user_id=user_id, name=share.title)
        return self.talks.copy(user_id, workspace_id, source, messages, name=share.title)


def _shown(message: Message) -> bool:
    """Whether a snapshot keeps a message: the user's turns and the assistant's answers that
    were written out; not an agent's tool calls nor the tools' results (what a tool returned,
    e.g. an internal service's answer, is the agent's to use, not the public's), nor a reply
    that failed or is still streaming."""
    return (message.status in ON_PATH_CONTEXT and not message.tool_calls
            and message.role in (MessageRole.USER, MessageRole.ASSISTANT))
