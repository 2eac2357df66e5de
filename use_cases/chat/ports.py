"""Interfaces the chat use cases need: talks, messages and the content of attached files.

Real implementations live in repositories/ and adapters/; unit tests use in-memory fakes.
"""
from __future__ import annotations

import builtins
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime

from entities.agent import AgentSetup
from entities.message_tree import MessageNode
from entities.pagination import Page, PageRequest
from entities.share import Share
from entities.talk import Message, MessagePage, ReplyControl, Talk


@dataclass(frozen=True)
class TalkFilter:
    """Which of a user's talks to list: `workspace_ids` None means every workspace."""

    user_id: str
    workspace_ids: list[str] | None = None
    name_contains: str | None = None
    archived: bool | None = False  # None: archived or not
    deleted: bool = False


class TalkRepository(ABC):
    @abstractmethod
    def add(self, talk: Talk) -> Talk: ...

    @abstractmethod
    def get(self, talk_id: str, user_id: str, include_deleted: bool = False) -> Talk | None:
        """The talk if it belongs to `user_id` (anyone else's talk is simply not found)."""

    @abstractmethod
    def get_many(self, talk_ids: list[str], user_id: str) -> list[Talk]: ...

    @abstractmethod
    def update(self, talk_id: str, user_id: str, **changes) -> Talk | None: ...

    @abstractmethod
    def set_deleted(self, talk_id: str, user_id: str, deleted: bool) -> Talk | None: ...

    @abstractmethod
    def list(self, query: TalkFilter, page: PageRequest) -> Page[Talk]:
        """Pinned first, then newest activity first; items and total in one round trip."""

    @abstractmethod
    def name_if_unnamed(self, talk_id: str, name: str) -> None:
        """Sets the name only while the talk has none (first exchange wins, races are safe)."""

    @abstractmethod
    def record_messages(self, talk_id: str, added: int, at: datetime) -> None:
        """Counts `added` messages (negative: removed) and moves the talk's activity to `at`.
        (MessageRepository.add counts the messages it adds itself.)"""

    @abstractmethod
    def search_names(self, query: TalkFilter, text: str, skip: int,
                     limit: int) -> tuple[builtins.list[Talk], int]:
        """Live talks whose name contains `text`, newest activity first, and their total."""

    @abstractmethod
    def deleted_ids(self, user_id: str) -> builtins.list[str]: ...

    @abstractmethod
    def claim_reply(self, talk_id: str, message_id: str, until: datetime) -> str | None:
        """Marks the talk as generating the reply `message_id` until `until`, atomically and only
        while no other claim holds it (a claim past its `until` no longer does): None when this
        claim won, else the message id the holding claim names."""

    @abstractmethod
    def release_reply(self, talk_id: str, message_id: str) -> None:
        """Ends the claim of `message_id` (another claim, which took over an expired one, stays)."""

    @abstractmethod
    def set_current_leaf(self, talk_id: str, leaf_id: str) -> None:
        """Makes `leaf_id` the message the talk shows last (MessageRepository.add does it for
        each message it adds)."""


class MessageRepository(ABC):
    @abstractmethod
    def new_id(self) -> str:
        """An id for a message stored later with `add` (ids taken later sort after it)."""

    @abstractmethod
    def add(self, message: Message) -> Message:
        """Stores the message as the newest of its talk, counts it on the talk and makes it the
        talk's current leaf; with the id `message.id` when set (one from `new_id`), else a new
        one."""

    @abstractmethod
    def add_many(self, talk_id: str, messages: list[Message]) -> list[Message]:
        """Stores copies (forks, imports) as `add` would, in that order, keeping each one's
        `id` (when set), `parent_id` and `created_at` (when set); the last becomes current.
        A parent must come before its children in `messages` (paths are walked up through
        lower `seq` numbers)."""

    @abstractmethod
    def get(self, message_id: str, talk_id: str) -> Message | None:
        """A live message of that talk."""

    @abstractmethod
    def page(self, talk: Talk, limit: int, before: str | None,
             every_branch: bool = False) -> MessagePage:
        """Live messages of the current path (root -> current leaf), oldest first, the last
        `limit` of them; with `before`, those above message `before` on its own branch (so a
        cursor keeps paging back through the branch it came from). ValidationFailed for a
        `before` that is not a message of the talk. With `every_branch`, every live message of
        the talk older than `before`, in creation order."""

    @abstractmethod
    def nodes(self, talk_id: str) -> list[MessageNode]:
        """Every message of the talk (deleted ones too) without content: one projection."""

    @abstractmethod
    def has_children(self, talk_id: str, message_id: str) -> bool:
        """Whether a live message of the talk follows `message_id` (one indexed lookup)."""

    @abstractmethod
    def path(self, talk: Talk, leaf_id: str | None = None) -> list[Message]:
        """The live messages from the root to `leaf_id` (None: the current leaf), root first;
        ValidationFailed when `leaf_id` is not a live message of the talk. A talk stored before
        trees reads as one line in creation order."""

    @abstractmethod
    def history(self, talk: Talk, up_to: str | None, limit: int) -> list[Message]:
        """Of the last `limit` live messages of the path root -> `up_to` (None: the current
        leaf), those the model sees again (ON_PATH_CONTEXT statuses), oldest first."""

    @abstractmethod
    def link_line(self, talk_id: str) -> str | None:
        """Gives a talk stored before trees its parents (one line, creation order) and its
        current leaf (the newest message); the current leaf's id."""

    @abstractmethod
    def all(self, talk_id: str) -> Iterator[Message]:
        """Every live message of the talk, oldest first."""

    @abstractmethod
    def update(self, message_id: str, **changes) -> Message | None: ...

    @abstractmethod
    def save_progress(self, message_id: str, content: str,
                      delta_ends: list[int] | None = None) -> ReplyControl:
        """Stores a streaming reply's text so far (and, given, where each of its deltas ends);
        says whether a stop was requested and whether anyone follows the reply from
        elsewhere."""

    @abstractmethod
    def add_follower(self, message_id: str, count: int) -> None:
        """Counts (count=1) or uncounts (count=-1) a follower of a streaming reply."""

    @abstractmethod
    def request_stop(self, talk_id: str) -> list[str]:
        """Flags the talk's streaming replies to stop; their ids."""

    @abstractmethod
    def streaming(self, talk_id: str) -> list[Message]: ...

    @abstractmethod
    def set_deleted(self, message_id: str, talk_id: str) -> bool: ...

    @abstractmethod
    def search(self, query: TalkFilter, text: str, exclude_talk_ids: list[str], skip: int,
               limit: int) -> tuple[list[Message], int]:
        """Live messages containing `text`, newest first, and their total."""


class ShareRepository(ABC):
    @abstractmethod
    def new_id(self) -> str:
        """An unguessable id (at least 128 random bits, URL-safe)."""

    @abstractmethod
    def add(self, share: Share) -> Share: ...

    @abstractmethod
    def get(self, share_id: str) -> Share | None:
        """The share, revoked or expired ones too."""

    @abstractmethod
    def list_for_talk(self, talk_id: str, user_id: str) -> list[Share]:
        """The talk's shares not revoked, newest first (no messages loaded)."""

    @abstractmethod
    def revoke(self, share_id: str, user_id: str) -> bool:
        """Revokes the user's share; False when it is not theirs or already revoked."""


class FileContext(ABC):
    """What attached files add to a message for the model."""

    @abstractmethod
    def for_message(self, user_id: str, workspace_id: str, file_ids: list[str]) -> list[dict]:
        """OpenAI content parts ({"type": "text", "text": ...}) carrying the files' contents;
        NotFound for a file the user may not read."""

    def attachments(self, workspace_id: str, file_ids: list[str]) -> dict[str, dict]:
        """`{filename, content_type, size}` by id for the files of `workspace_id` among
        `file_ids` (those in the trash too), for exports; a file not found is left out."""
        return {}


class TalkRepresentation(ABC):
    """The one JSON form of talks and messages — the HTTP API's — which events and exports use
    too, so a field added to a talk appears everywhere at once."""

    @abstractmethod
    def talk(self, talk: Talk) -> dict: ...

    @abstractmethod
    def message(self, message: Message) -> dict: ...


class TalkAgents(ABC):
    """The agents a talk can be bound to (implemented over the agents area)."""

    @abstractmethod
    def check(self, user_id: str, workspace_id: str, agent_id: str) -> None:
        """NotFound unless `agent_id` is a live agent of `workspace_id` the user can read."""

    @abstractmethod
    def for_reply(self, user_id: str, workspace_id: str, agent_id: str, talk_id: str,
                  cancelled: Callable[[], bool], file_ids: tuple[str, ...] = ()) -> AgentSetup:
        """The agent and its tools for one reply, acting as `user_id` (tool runs end early when
        `cancelled()` turns true); `file_ids`: the files attached to the talk's messages that
        the reply answers (file_search tools search them too). NotFound when the agent is gone
        or no longer readable."""
