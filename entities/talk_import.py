"""Conversations brought in from other chat apps, and the jobs that import and export them.

An importer turns one conversation of an export (ChatGPT, Claude, LibreChat, Open WebUI,
SynapScale) into an `ImportedConversation`: messages with their source ids and their parents'
source ids, in any order. `tree_of` checks and orders that tree (parents before children), so
every format gets the same rules: a missing or unknown parent makes a message a root, a cycle is
refused, and the current leaf is the export's own when it names a message that was kept, else the
newest leaf.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import Enum

from entities.errors import ValidationFailed

IMPORT_FORMATS = ("chatgpt", "claude", "librechat", "openwebui", "synapscale")


class JobStatus(str, Enum):
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"


class ItemStatus(str, Enum):
    IMPORTED = "imported"
    SKIPPED = "skipped"  # already imported by this user (same format and source id)
    FAILED = "failed"


@dataclass(frozen=True)
class ImportLimits:
    """Bounds on hostile or broken input, each refused with a reason naming it."""

    max_upload_bytes: int = 512 * 1024 * 1024
    max_zip_members: int = 10_000
    max_unpacked_bytes: int = 2 * 1024 * 1024 * 1024  # the zip's members together, as declared
    max_compression_ratio: int = 200  # per member above 1 MiB: a zip bomb's members are far more
    max_conversation_bytes: int = 64 * 1024 * 1024  # the text of one conversation as parsed
    max_depth: int = 64  # JSON nesting
    # one JSON value (a string, a number) as raw bytes: the parser holds a value whole before
    # it can be counted, so this bounds memory (2M characters of escaped message text fit)
    max_value_bytes: int = 32 * 1024 * 1024
    max_messages: int = 20_000  # per conversation
    max_message_chars: int = 2_000_000
    max_title_chars: int = 500
    max_conversations: int = 200_000  # per import


@dataclass
class ImportedMessage:
    source_id: str
    parent_source_id: str | None
    role: str  # user | assistant | system; tool (SynapScale's own format only)
    content: str
    created_at: datetime | None = None
    updated_at: datetime | None = None
    model: str | None = None
    status: str = "complete"
    error: str | None = None
    error_code: str | None = None
    file_ids: list[str] = field(default_factory=list)
    usage: tuple[int, int, float] | None = None  # prompt tokens, completion tokens, cost in USD
    latency_ms: float | None = None
    tool_calls: list[dict[str, str]] | None = None  # an agent's call: [{id, name, arguments}]
    tool_call_id: str | None = None  # a `tool` message: the call it answers
    name: str | None = None  # a `tool` message: the tool's name


@dataclass
class ImportedConversation:
    format: str
    source_id: str
    title: str
    messages: list[ImportedMessage]
    created_at: datetime | None = None
    updated_at: datetime | None = None
    model: str | None = None
    system_prompt: str | None = None
    tags: list[str] = field(default_factory=list)
    archived: bool = False
    pinned: bool = False
    current_leaf_source_id: str | None = None


@dataclass(frozen=True)
class ConversationTree:
    """A checked conversation: `messages` parents first; `current_leaf` a kept message's
    source id (None when there are no messages)."""

    messages: list[ImportedMessage]
    current_leaf: str | None


@dataclass(frozen=True)
class ImportItem:
    source_id: str
    status: ItemStatus
    talk_id: str | None = None
    error: str | None = None
    title: str | None = None
    position: int = 0  # its place in the file's order of conversations (0: the first)


@dataclass
class ImportJob:
    id: str
    user_id: str
    workspace_id: str
    format: str | None  # as asked (None: detected per conversation)
    filename: str
    status: JobStatus = JobStatus.RUNNING
    total: int = 0
    imported: int = 0
    skipped: int = 0
    failed: int = 0
    error: str | None = None  # why the whole import failed (the file, not one conversation)
    created_at: datetime | None = None
    finished_at: datetime | None = None


@dataclass
class ExportJob:
    id: str
    user_id: str
    workspace_id: str | None
    status: JobStatus = JobStatus.RUNNING
    total: int = 0
    exported: int = 0
    blob_id: str | None = None
    size: int | None = None
    error: str | None = None
    created_at: datetime | None = None
    finished_at: datetime | None = None


def _order_key(message: ImportedMessage, position: int) -> tuple:
    stamp = message.created_at.timestamp() if message.created_at else float("-inf")
    return (stamp, position)


def tree_of(conversation: ImportedConversation, limits: ImportLimits) -> ConversationTree:
    """The conversation's messages as a checked tree, parents before children (siblings in
    creation order). ValidationFailed names what is wrong: too many messages, a message too long,
    a repeated id, a cycle."""
    messages = conversation.messages
    if len(messages) > limits.max_messages:
        raise ValidationFailed(f"More than {limits.max_messages} messages in one conversation")
    by_id: dict[str, ImportedMessage] = {}
    for message in messages:
        if message.source_id in by_id:
            raise ValidationFailed(f"Message id {message.source_id!r} appears twice")
        if len(message.content) > limits.max_message_chars:
            raise ValidationFailed(
                f"Message {message.source_id!r} is longer than {limits.max_message_chars} "
                "characters")
        by_id[message.source_id] = message
    position = {message.source_id: index for index, message in enumerate(messages)}
    children: dict[str | None, list[ImportedMessage]] = {}
    for message in messages:
        parent = message.parent_source_id
        if parent not in by_id or parent == message.source_id:
            parent = message.parent_source_id = None
        children.setdefault(parent, []).append(message)
    ordered: list[ImportedMessage] = []
    stack = sorted(children.get(None, []), key=lambda m: _order_key(m, position[m.source_id]),
                   reverse=True)
    while stack:
        message = stack.pop()
        ordered.append(message)
        stack.extend(sorted(children.get(message.source_id, []),
                            key=lambda m: _order_key(m, position[m.source_id]), reverse=True))
    if len(ordered) != len(messages):
        raise ValidationFailed("The messages' parents form a cycle")
    return ConversationTree(ordered, _current_leaf(conversation.current_leaf_source_id, ordered,
                                                   children, position))


def _current_leaf(asked: str | None, ordered: list[ImportedMessage],
                  children: dict[str | None, list[ImportedMessage]],
                  position: dict[str, int]) -> str | None:
    if not ordered:
        return None
    if asked is not None and asked in position:
        leaf = asked
        while children.get(leaf):  # the export named an inner message: follow its newest child
            leaf = max(children[leaf], key=lambda m: _order_key(m, position[m.source_id])).source_id
        return leaf
    leaves = [m for m in ordered if not children.get(m.source_id)]
    return max(leaves, key=lambda m: _order_key(m, position[m.source_id])).source_id
