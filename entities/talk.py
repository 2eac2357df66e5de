"""Talks (conversations) and their messages."""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import Enum

TITLE_MAX_CHARS = 60


class MessageRole(str, Enum):
    USER = "user"
    ASSISTANT = "assistant"
    SYSTEM = "system"
    TOOL = "tool"  # a tool's result in an agent's reply (`tool_call_id`, `name`)


class MessageStatus(str, Enum):
    COMPLETE = "complete"
    STREAMING = "streaming"
    FAILED = "failed"
    STOPPED = "stopped"
    SUPERSEDED = "superseded"

    @property
    def is_final(self) -> bool:
        return self is not MessageStatus.STREAMING


# Replies the model sees again as history; failed and superseded ones are not part of the thread.
IN_CONTEXT = (MessageStatus.COMPLETE, MessageStatus.STOPPED)
# On a branch's path a superseded reply is one the user switched back to: the model sees it.
ON_PATH_CONTEXT = (*IN_CONTEXT, MessageStatus.SUPERSEDED)


@dataclass(frozen=True)
class TalkSource:
    """Where an imported talk came from: its export format and its id there (a user imports a
    conversation once; importing it again skips it)."""

    format: str
    id: str


@dataclass
class Talk:
    id: str
    workspace_id: str
    user_id: str
    name: str = ""
    model: str | None = None
    system_prompt: str | None = None
    agent_id: str | None = None  # replies come from this agent (its model, instructions, tools)
    tags: list[str] = field(default_factory=list)
    archived: bool = False
    pinned: bool = False
    message_count: int = 0
    last_message_at: datetime | None = None
    deleted_at: datetime | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None
    last_seq: int = 0  # position of the newest message ever added (messages are numbered 1, 2...)
    # the message the talk shows last: history reads follow parent_id from it to the root.
    # None: no message yet, or a talk stored before trees (its messages read as one line)
    current_leaf_id: str | None = None
    source: TalkSource | None = None  # set on imported talks


@dataclass
class MessageUsage:
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float = 0.0

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens


@dataclass
class Message:
    id: str
    talk_id: str
    workspace_id: str
    user_id: str
    role: MessageRole
    content: str
    status: MessageStatus = MessageStatus.COMPLETE
    model: str | None = None
    # the message this one follows: an assistant reply's user message; a user message's the
    # message before it on its branch (None for a first message and its edited siblings)
    parent_id: str | None = None
    file_ids: list[str] = field(default_factory=list)
    usage: MessageUsage | None = None
    latency_ms: float | None = None
    error: str | None = None
    error_code: str | None = None  # the API error code of a failed reply (e.g. upstream_timeout)
    created_at: datetime | None = None
    updated_at: datetime | None = None
    # a streamed reply: where each delta ends in `content` (resumes after an event's `seq`);
    # None for a message stored whole
    delta_ends: list[int] | None = None
    # an agent's reply: an assistant message calling tools (`[{id, name, arguments}]`), and a
    # tool's result (`role: tool`) answering the call `tool_call_id` of the tool `name`
    tool_calls: list[dict] | None = None
    tool_call_id: str | None = None
    name: str | None = None


@dataclass(frozen=True)
class ReplyControl:
    """What a streaming reply learns each time it stores its progress."""

    stop_requested: bool = False
    followed: bool = False  # someone follows it from another process: publish its deltas


@dataclass(frozen=True)
class MessagePage:
    """A cursor page: `items` oldest first; `next_before` continues further back."""

    items: list[Message]
    has_more: bool

    @property
    def next_before(self) -> str | None:
        return self.items[0].id if self.has_more and self.items else None


@dataclass(frozen=True)
class SearchHit:
    talk_id: str
    talk_name: str
    message_id: str | None  # None: the talk's name matched
    snippet: str
    created_at: datetime | None


def title_from(text: str, limit: int = TITLE_MAX_CHARS) -> str:
    """A talk name from its first user message: one line, cut at a word within `limit` chars."""
    line = " ".join(text.split())
    if len(line) <= limit:
        return line or "New talk"
    cut = line[: limit - 1]
    if " " in cut[limit // 2:]:
        cut = cut[: cut.rindex(" ")]
    return cut.rstrip(" ,.;:-") + "…"


def snippet_around(text: str, needle: str, width: int = 160) -> str:
    """About `width` characters of `text` centred on the first case-insensitive `needle`."""
    flat = " ".join(text.split())
    at = flat.lower().find(needle.lower()) if needle else -1
    if at < 0 or len(flat) <= width:
        return flat[:width] + ("…" if len(flat) > width else "")
    start = max(0, at - (width - len(needle)) // 2)
    end = min(len(flat), start + width)
    start = max(0, end - width)
    return ("…" if start else "") + flat[start:end] + ("…" if end < len(flat) else "")
