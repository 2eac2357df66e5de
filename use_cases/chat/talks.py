"""Talks: create, read, change, delete and restore, list, search, export.

A talk is private to the user who created it: anyone else (even an admin of its workspace) is
told it does not exist. Its owner also needs to still be a member of its workspace: viewers
read, members write.
"""
from __future__ import annotations

import builtins
import json
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace

from entities.clock import iso_utc, utcnow
from entities.errors import NotFound, ValidationFailed
from entities.pagination import Page, PageRequest
from entities.talk import (
    Message,
    MessagePage,
    MessageStatus,
    SearchHit,
    Talk,
    snippet_around,
    title_from,
)
from entities.workspace import WorkspaceRole
from use_cases.chat.events import TalkEvents
from use_cases.chat.generations import settle_if_abandoned
from use_cases.chat.ports import (
    FileContext,
    MessageRepository,
    TalkAgents,
    TalkFilter,
    TalkRepository,
)
from use_cases.imports.formats import synapscale
from use_cases.workspaces.access import WorkspaceAccess
from use_cases.workspaces.ports import WorkspaceRepository

READ = WorkspaceRole.VIEWER
WRITE = WorkspaceRole.MEMBER
MAX_WORKSPACES = 1000  # a user's workspaces considered by "all my talks"
EXPORT_FORMATS = ("json", "markdown")


@dataclass(frozen=True)
class Export:
    filename: str
    content_type: str
    body: str


class Talks:
    def __init__(self, talks: TalkRepository, messages: MessageRepository,
                 workspaces: WorkspaceRepository, access: WorkspaceAccess,
                 events: TalkEvents, model_ids: Callable[[], Iterable[str]],
                 agents: TalkAgents, file_context: FileContext | None = None):
        self.talks = talks
        self.messages = messages
        self.workspaces = workspaces
        self.access = access
        self.events = events
        self.model_ids = model_ids  # the catalogue, to refuse a model that does not exist
        self.agents = agents  # the agents a talk may be bound to
        self.file_context = file_context  # names the files attached to messages, for exports

    # --- one talk ---------------------------------------------------------------------------

    def visible(self, user_id: str, talk_id: str, minimum: WorkspaceRole = READ,
                include_deleted: bool = False) -> Talk:
        talk = self.talks.get(talk_id, user_id, include_deleted)
        if talk is None:
            raise NotFound("Talk not found")
        try:
            self.access.require(user_id, talk.workspace_id, minimum)
        except NotFound:
            raise NotFound("Talk not found") from None
        return talk

    def create(self, user_id: str, workspace_id: str | None, name: str = "",
               model: str | None = None, system_prompt: str | None = None,
               tags: list[str] | None = None, agent_id: str | None = None) -> Talk:
        """`agent_id`: an agent of the workspace the user can read (404 otherwise); the talk's
        replies then come from it."""
        membership = self.access.require(user_id, workspace_id, WRITE)
        self._check_model(model)
        if agent_id:
            self.agents.check(user_id, membership.workspace_id, agent_id)
        now = utcnow()
        talk = self.talks.add(Talk(
            id="", workspace_id=membership.workspace_id, user_id=user_id, name=(name or "").strip(),
            model=model or None, system_prompt=system_prompt or None, tags=_tags(tags),
            agent_id=agent_id or None, created_at=now, updated_at=now))
        self.events.talk_created(talk)
        return talk

    def update(self, user_id: str, talk_id: str, **changes) -> Talk:
        self.visible(user_id, talk_id, WRITE)
        if "model" in changes:
            self._check_model(changes["model"])
        if "tags" in changes:
            changes["tags"] = _tags(changes["tags"])
        if "name" in changes:
            changes["name"] = (changes["name"] or "").strip()
        talk = self.talks.update(talk_id, user_id, **changes) if changes else None
        return talk or self.visible(user_id, talk_id)

    def delete(self, user_id: str, talk_id: str) -> None:
        self.visible(user_id, talk_id, WRITE)
        self.talks.set_deleted(talk_id, user_id, True)

    def linked(self, talk: Talk) -> Talk:
        """The talk as a tree: one stored before trees (messages but no current leaf) gets its
        parents and current leaf first (as data/migrations/0002_message_trees.py does)."""
        if talk.current_leaf_id is None and talk.last_seq > 0:
            return replace(talk, current_leaf_id=self.messages.link_line(talk.id))
        return talk

    def copy(self, user_id: str, workspace_id: str | None, source: Talk,
             messages: builtins.list[Message], name: str) -> Talk:
        """A new talk of `user_id` in `workspace_id` (None: their personal workspace; a member
        at least) with `source`'s settings and copies of `messages` (a path, root first) as one
        line, the last one current; timestamps kept, streaming replies copied as `stopped`.
        Used by forks (of a talk, of a share) and meant for imports."""
        membership = self.access.require(user_id, workspace_id, WRITE)
        now = utcnow()
        talk = self.talks.add(Talk(
            id="", workspace_id=membership.workspace_id, user_id=user_id, name=name,
            model=source.model, system_prompt=source.system_prompt, tags=list(source.tags),
            created_at=now, updated_at=now))
        copies, parent = [], None
        for message in messages:
            new_id = self.messages.new_id()
            status = (MessageStatus.STOPPED if message.status is MessageStatus.STREAMING
                      else message.status)
            copies.append(replace(message, id=new_id, talk_id=talk.id, user_id=user_id,
                                  workspace_id=talk.workspace_id, parent_id=parent,
                                  status=status, delta_ends=None))
            parent = new_id
        self.messages.add_many(talk.id, copies)
        talk = self.talks.get(talk.id, user_id) or talk
        self.events.talk_created(talk)
        return talk

    def restore(self, user_id: str, talk_id: str) -> Talk:
        self.visible(user_id, talk_id, WRITE, include_deleted=True)
        talk = self.talks.set_deleted(talk_id, user_id, False)
        if talk is None:
            raise NotFound("Talk not found")
        return talk

    # --- messages ---------------------------------------------------------------------------

    def messages_page(self, user_id: str, talk_id: str, limit: int,
                      before: str | None, every_branch: bool = False) -> MessagePage:
        """A page of the current path (root -> current leaf), or with `every_branch` of every
        message in creation order."""
        talk = self.visible(user_id, talk_id)
        page = self.messages.page(talk, limit, before, every_branch)
        return MessagePage(self._settled(page.items), page.has_more)

    def all_messages(self, user_id: str, talk_id: str) -> list[Message]:
        """The current path, root first (what the ChatAI-compatible routes show)."""
        talk = self.visible(user_id, talk_id)
        return self._settled(self.messages.path(talk))

    def delete_message(self, user_id: str, talk_id: str, message_id: str) -> None:
        self.visible(user_id, talk_id, WRITE)
        if not self.messages.set_deleted(message_id, talk_id):
            raise NotFound("Message not found")
        self.talks.record_messages(talk_id, -1, utcnow())

    def name_if_unnamed(self, talk: Talk, first_message: str) -> None:
        if not talk.name:
            self.talks.name_if_unnamed(talk.id, title_from(first_message))

    # --- many talks -------------------------------------------------------------------------

    def list(self, user_id: str, workspace_id: str | None, page: PageRequest,
             name_contains: str | None = None, archived: bool | None = False,
             deleted: bool = False) -> Page[Talk]:
        query = TalkFilter(user_id, self._workspace_ids(user_id, workspace_id),
                           name_contains or None, archived, deleted)
        return self.talks.list(query, page)

    def search(self, user_id: str, text: str, workspace_id: str | None,
               page: PageRequest) -> Page[SearchHit]:
        """Talk names first (newest activity first), then messages (newest first), as one list."""
        text = " ".join(text.split())
        if not text:
            raise ValidationFailed("Nothing to search for", {"q": ["Must not be blank."]})
        query = TalkFilter(user_id, self._workspace_ids(user_id, workspace_id), archived=None)
        talks, talk_total = self.talks.search_names(query, text, page.skip, page.size)
        hits = [SearchHit(talk.id, talk.name, None, snippet_around(talk.name, text),
                          talk.last_message_at or talk.created_at) for talk in talks]
        room = page.size - len(hits)
        skip = max(0, page.skip - talk_total)
        messages, message_total = self.messages.search(
            query, text, self.talks.deleted_ids(user_id), skip, max(room, 1))
        if room > 0 and messages:
            names = {talk.id: talk.name for talk in
                     self.talks.get_many(list({m.talk_id for m in messages}), user_id)}
            hits += [SearchHit(m.talk_id, names.get(m.talk_id, ""), m.id,
                               snippet_around(m.content, text), m.created_at)
                     for m in messages[:room]]
        return Page(hits, page.page, page.size, talk_total + message_total)

    def export(self, user_id: str, talk_id: str, fmt: str) -> Export:
        """`json`: the talk and every message of every branch (each with its `parent_id`);
        `markdown`: the current path (root -> current leaf). NotFound for a talk that is not
        the caller's; ValidationFailed for another format."""
        if fmt not in EXPORT_FORMATS:
            raise ValidationFailed("Unknown export format", {"format": list(EXPORT_FORMATS)})
        talk = self.visible(user_id, talk_id)
        if fmt == "json":
            return self._json_export(talk)
        messages = self._settled(self.messages.path(talk))
        return Export(f"{_slug(talk.name) or 'talk'}-{talk.id}.md",
                      "text/markdown; charset=utf-8",
                      _markdown(talk, messages, self._attachments(talk, messages)))

    def _json_export(self, talk: Talk) -> Export:
        """The whole tree in the versioned, lossless `synapscale` format."""
        body = json.dumps(self.export_document(talk), ensure_ascii=False, indent=2)
        return Export(f"{_slug(talk.name) or 'talk'}-{talk.id}.json", "application/json", body)

    def document(self, talk: Talk, messages: builtins.list[Message],
                 files: dict[str, dict]) -> dict:
        """The talk's whole tree in the versioned `synapscale` format (see
        use_cases/imports/formats/synapscale.py), which imports back losslessly."""
        representation = self.events.representation
        return synapscale.document(
            representation.talk(talk),
            [_with_attachments(representation.message(m), m, files) for m in messages],
            utcnow())

    def export_document(self, talk: Talk) -> dict:
        """`document` of a talk read here (the whole-account export's members)."""
        messages = self._settled(self.messages.all(talk.id))
        return self.document(talk, messages, self._attachments(talk, messages))

    # --- helpers ----------------------------------------------------------------------------

    def _workspace_ids(self, user_id: str, workspace_id: str | None) -> builtins.list[str]:
        if workspace_id:
            return [self.access.require(user_id, workspace_id, READ).workspace_id]
        mine = self.workspaces.list_for_user(user_id, PageRequest(1, MAX_WORKSPACES))
        return [workspace.id for workspace, _role in mine.items]

    def _attachments(self, talk: Talk, messages: builtins.list[Message]) -> dict[str, dict]:
        """The attached files' names, types and sizes by id."""
        file_ids = [file_id for message in messages for file_id in message.file_ids]
        if not file_ids or self.file_context is None:
            return {}
        return self.file_context.attachments(talk.workspace_id, file_ids)

    def _settled(self, messages: Iterable[Message]) -> builtins.list[Message]:
        """Replies whose worker died mid-stream read as failed, followed or not."""
        return [settle_if_abandoned(self.messages, message) for message in messages]

    def _check_model(self, model: str | None) -> None:
        if model and model not in set(self.model_ids()):
            raise ValidationFailed(f"Unknown model '{model}'", {"model": ["Unknown model."]})


def _tags(tags: Iterable[str] | None) -> list[str]:
    return list(dict.fromkeys(tag.strip() for tag in tags or () if tag.strip()))


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:50]


def _attached(message: Message, files: dict[str, dict]) -> list[dict]:
    """`{id, filename, content_type, size}` per attached file (null fields: a file since
    removed)."""
    empty = {"filename": None, "content_type": None, "size": None}
    return [{"id": file_id, **files.get(file_id, empty)} for file_id in message.file_ids]


def _with_attachments(represented: dict, message: Message, files: dict[str, dict]) -> dict:
    """The API form of a message, plus `attachments` when it has files (additive: a message
    without files exports exactly as the API returns it)."""
    if not message.file_ids:
        return represented
    return {**represented, "attachments": _attached(message, files)}


# what could start emphasis, code, a link or image (`[`), HTML or an entity inside a line
MARKDOWN_SPECIAL = re.compile(r"([\\`*_\[\]<>&~])")
FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})(.*)$")


def _inline(text: str) -> str:
    """User-given text (a name, a tag, a file name) as plain text on one line of Markdown: its
    line breaks folded and the characters that could start markup, a link or HTML escaped."""
    return MARKDOWN_SPECIAL.sub(r"\\\1", " ".join(text.split()))


def _fenced(text: str) -> list[str]:
    """`text` verbatim in a fenced code block that nothing in it can close (the fence is
    longer than any run of backticks inside)."""
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    fence = "`" * max(3, longest + 1)
    return [fence, *text.splitlines(), fence]


def _closed_fences(text: str) -> str:
    """A message's Markdown with a code fence it left open (a reply cut short, a stray
    ```) closed at its end, so it cannot swallow the turns after it (CommonMark's fences)."""
    opened: tuple[str, int] | None = None
    for line in text.splitlines():
        match = FENCE.match(line)
        if match is None:
            continue
        run = match.group(1)
        if opened is None:
            if not (run[0] == "`" and "`" in match.group(2)):  # an info string has no `
                opened = (run[0], len(run))
        elif run[0] == opened[0] and len(run) >= opened[1] and not match.group(2).strip():
            opened = None
    if opened is None:
        return text
    ending = "" if text.endswith("\n") else "\n"
    return f"{text}{ending}{opened[0] * opened[1]}"


def _attachment_line(attachment: dict) -> str:
    if attachment["filename"] is None:
        return f"- Attachment: `{attachment['id']}` (no longer available)"
    return (f"- Attachment: {_inline(attachment['filename'])} "
            f"({_inline(attachment['content_type'] or '')}, {attachment['size']} bytes)")


def _markdown(talk: Talk, messages: list[Message], files: dict[str, dict]) -> str:
    """The current path as Markdown: the talk's details, then one `##` heading per message
    (role, model, status, time) and its content as written (a code fence it left open closed).
    What users named (title, tags, files) is escaped to plain text on one line and the system
    prompt is shown verbatim in a code block, so none of it adds headings, links or HTML."""
    lines = [f"# {_inline(talk.name) or 'Untitled talk'}", ""]
    details = [f"- Talk: `{talk.id}`"]
    if talk.model:
        details.append(f"- Model: {_inline(talk.model)}")
    if talk.tags:
        details.append("- Tags: " + ", ".join(_inline(tag) for tag in talk.tags))
    details.append(f"- Exported: {iso_utc(utcnow())}")
    if talk.system_prompt:
        details += ["- System prompt:", "", *_fenced(talk.system_prompt)]
    lines += [*details, ""]
    for message in messages:
        heading = message.role.value.capitalize()
        if message.model and message.role.value == "assistant":
            heading += f" ({_inline(message.model)})"
        if message.status is not MessageStatus.COMPLETE:
            heading += f" [{message.status.value}]"
        when = iso_utc(message.created_at) if message.created_at else ""
        body = (_closed_fences(message.content) if message.content
                else f"_{_inline(message.error or '')}_")
        lines += [f"## {heading} — {when}", "", body, ""]
        attachments = [_attachment_line(a) for a in _attached(message, files)]
        if attachments:
            lines += [*attachments, ""]
    return "\n".join(lines)
