"""In-memory fakes for the talk and chat use cases, and `TalkWorld`: those use cases built on
them by bootstrap.chat, next to the identity fakes of tests/unit/fakes.py."""
from __future__ import annotations

import itertools
import threading
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from datetime import datetime

from bootstrap.chat import ChatLimits, build_chat
from entities.clock import utcnow
from entities.errors import NotFound, ValidationFailed
from entities.llm import ChatRequest, ChatResult, ModelInfo, StreamChunk, Usage
from entities.pagination import Page, PageRequest
from entities.talk import IN_CONTEXT, Message, MessagePage, MessageStatus, ReplyControl, Talk
from tests.support.gateway_fakes import budgets_on_fakes
from tests.unit.fakes import Identity
from use_cases.chat.ports import FileContext, MessageRepository, TalkFilter, TalkRepository
from use_cases.gateway.metered_call import ModelCallMeter
from use_cases.gateway.ports import LLMGateway

MODEL = "fake/model"
VISION_MODEL = "fake/vision"
_ids = itertools.count(1)


def ordered_id() -> str:
    """24 hex characters that sort in creation order, like ObjectIds."""
    return f"{next(_ids):024x}"


class FakeTalkRepository(TalkRepository):
    def __init__(self):
        self.rows: dict[str, Talk] = {}
        self.activity: dict[str, datetime] = {}
        self.deleted: set[str] = set()

    def add(self, talk: Talk) -> Talk:
        talk = replace(talk, id=ordered_id())
        self.rows[talk.id] = talk
        self.activity[talk.id] = talk.created_at or utcnow()
        return talk

    def _owned(self, talk_id, user_id, include_deleted=False) -> Talk | None:
        talk = self.rows.get(talk_id)
        if talk is None or talk.user_id != user_id:
            return None
        if talk_id in self.deleted and not include_deleted:
            return None
        return talk

    def get(self, talk_id, user_id, include_deleted=False):
        return self._owned(talk_id, user_id, include_deleted)

    def get_many(self, talk_ids, user_id):
        return [t for t in (self._owned(i, user_id, True) for i in talk_ids) if t]

    def update(self, talk_id, user_id, **changes):
        if self._owned(talk_id, user_id) is None:
            return None
        self.rows[talk_id] = replace(self.rows[talk_id], **changes, updated_at=utcnow())
        return self.rows[talk_id]

    def set_deleted(self, talk_id, user_id, deleted):
        talk = self._owned(talk_id, user_id, include_deleted=True)
        if talk is None:
            return None
        (self.deleted.add if deleted else self.deleted.discard)(talk_id)
        self.rows[talk_id] = replace(talk, deleted_at=utcnow() if deleted else None)
        return self.rows[talk_id]

    def _matching(self, query: TalkFilter) -> list[Talk]:
        talks = [t for t in self.rows.values() if t.user_id == query.user_id
                 and (t.id in self.deleted) == query.deleted
                 and (query.workspace_ids is None or t.workspace_id in query.workspace_ids)
                 and (query.archived is None or t.archived == query.archived)]
        return sorted(talks, key=lambda t: (t.pinned, self.activity[t.id], t.id), reverse=True)

    def list(self, query, page):
        talks = [t for t in self._matching(query) if not query.name_contains
                 or query.name_contains.lower() in t.name.lower()]
        return Page(talks[page.skip:page.skip + page.size], page.page, page.size, len(talks))

    def name_if_unnamed(self, talk_id, name):
        if not self.rows[talk_id].name:
            self.rows[talk_id] = replace(self.rows[talk_id], name=name)

    def record_messages(self, talk_id, added, at):
        talk = self.rows[talk_id]
        self.rows[talk_id] = replace(talk, message_count=talk.message_count + added,
                                     last_message_at=at if added > 0 else talk.last_message_at)
        if added > 0:
            self.activity[talk_id] = at

    def search_names(self, query, text, skip, limit):
        talks = [t for t in self._matching(query) if text.lower() in t.name.lower()]
        talks.sort(key=lambda t: self.activity[t.id], reverse=True)
        return talks[skip:skip + limit], len(talks)

    def deleted_ids(self, user_id):
        return [i for i in self.deleted if self.rows[i].user_id == user_id]


class FakeMessageRepository(MessageRepository):
    def __init__(self, talks: FakeTalkRepository | None = None):
        self.talks = talks or FakeTalkRepository()
        self.rows: dict[str, Message] = {}
        self.deleted: set[str] = set()
        self.stop_flags: set[str] = set()
        self.followers: Counter[str] = Counter()
        self.progress_saves: list[tuple[str, str]] = []

    def add(self, message):
        now = utcnow()
        message = replace(message, id=ordered_id(), created_at=now, updated_at=now)
        self.rows[message.id] = message
        if message.talk_id in self.talks.rows:
            self.talks.record_messages(message.talk_id, 1, now)
        return message

    def _live(self, talk_id) -> list[Message]:
        return sorted((m for m in self.rows.values()
                       if m.talk_id == talk_id and m.id not in self.deleted), key=lambda m: m.id)

    def get(self, message_id, talk_id):
        message = self.rows.get(message_id)
        ok = message is not None and message.talk_id == talk_id and message_id not in self.deleted
        return message if ok else None

    def page(self, talk, limit, before):
        items = [m for m in self._live(talk.id) if before is None or m.id < before]
        return MessagePage(items[-limit:], len(items) > limit)

    def history(self, talk, up_to, limit):
        items = [m for m in self._live(talk.id) if up_to is None or m.id <= up_to]
        return [m for m in items[-limit:] if m.status in IN_CONTEXT]

    def all(self, talk_id) -> Iterator[Message]:
        return iter(self._live(talk_id))

    def update(self, message_id, **changes):
        if message_id not in self.rows:
            return None
        self.rows[message_id] = replace(self.rows[message_id], **changes, updated_at=utcnow())
        return self.rows[message_id]

    def save_progress(self, message_id, content):
        self.progress_saves.append((message_id, content))
        self.rows[message_id] = replace(self.rows[message_id], content=content,
                                        updated_at=utcnow())
        return ReplyControl(message_id in self.stop_flags, self.followers[message_id] > 0)

    def add_follower(self, message_id, count):
        self.followers[message_id] += count

    def request_stop(self, talk_id):
        ids = [m.id for m in self.streaming(talk_id)]
        self.stop_flags.update(ids)
        return ids

    def streaming(self, talk_id):
        return [m for m in self._live(talk_id) if m.status is MessageStatus.STREAMING]

    def set_deleted(self, message_id, talk_id):
        if self.get(message_id, talk_id) is None:
            return False
        self.deleted.add(message_id)
        return True

    def search(self, query, text, exclude_talk_ids, skip, limit):
        found = [m for m in sorted(self.rows.values(), key=lambda m: m.id, reverse=True)
                 if m.user_id == query.user_id and m.id not in self.deleted
                 and m.talk_id not in exclude_talk_ids
                 and (query.workspace_ids is None or m.workspace_id in query.workspace_ids)
                 and text.lower() in m.content.lower()]
        return found[skip:skip + limit], len(found)


class ScriptedGateway(LLMGateway):
    """Answers `reply` (default "Echo: <last user text>") or raises `error`. Streams one word per
    chunk; with `gate` set, each chunk after the first waits for `gate` to be released."""

    def __init__(self, context_window: int = 8192):
        self.window = context_window
        self.reply: str | None = None
        self.error: Exception | None = None
        self.stream_error_after: int | None = None  # raise `error` after that many chunks
        self.gate: threading.Semaphore | None = None
        self.requests: list[ChatRequest] = []
        self.on_call = None  # called with the request before answering

    def models(self, credentials):
        return [ModelInfo(MODEL, "fake", True, True, self.window, 0.001, 0.002),
                ModelInfo(VISION_MODEL, "fake", True, False, self.window, 0.001, 0.002,
                          supports_vision=True)]

    def default_model(self, credentials):
        return MODEL

    def _text(self, request):
        if self.reply is not None:
            return self.reply
        last = request.messages[-1]["content"]
        if isinstance(last, list):
            last = " ".join(part.get("text", "") for part in last)
        return f"Echo: {last}"

    def _result(self, request, content):
        return ChatResult(id="r", model=request.model, provider="fake", content=content,
                          usage=Usage(7, len(content.split()), 0.5), latency_ms=12.0, ttft_ms=3.0)

    def complete(self, request):
        self.requests.append(request)
        if self.on_call:
            self.on_call(request)
        if self.error is not None and self.stream_error_after is None:
            raise self.error
        return self._result(request, self._text(request))

    def stream(self, request):
        self.requests.append(request)
        if self.on_call:
            self.on_call(request)
        if self.error is not None and self.stream_error_after is None:
            raise self.error
        return self._chunks(request)

    def _chunks(self, request):
        words = self._text(request).split(" ")
        for index, word in enumerate(words):
            if self.stream_error_after is not None and index >= self.stream_error_after:
                raise self.error
            if index and self.gate is not None:
                self.gate.acquire(timeout=5)
            yield StreamChunk(delta=word if index == 0 else " " + word)
        yield StreamChunk(result=self._result(request, " ".join(words)))

    def count_tokens(self, model, messages):
        total = 0
        for message in messages:
            content = message["content"]
            if isinstance(content, list):
                content = " ".join(part.get("text", "") for part in content)
            total += len(str(content).split()) + 1
        return total

    def context_window(self, model):
        return self.window


class RecordingUsage:
    """Stands in for the UsageRecorder: keeps what would be recorded."""

    def __init__(self):
        self.records = []

    def record(self, record, durable=False):
        self.records.append(record)


class FakeFileContext(FileContext):
    def __init__(self, files: dict[str, list[dict]]):
        self.files = files
        self.calls: list[tuple[str, str, list[str]]] = []

    def for_message(self, user_id, workspace_id, file_ids):
        self.calls.append((user_id, workspace_id, list(file_ids)))
        parts = []
        for file_id in file_ids:
            if file_id not in self.files:
                raise NotFound("File not found")
            parts += self.files[file_id]
        return parts


class NoAttachments(FileContext):
    """A server where files cannot be attached to messages."""

    def for_message(self, user_id, workspace_id, file_ids):
        raise ValidationFailed("File attachments are not available",
                               {"file_ids": ["Files cannot be attached on this server."]})


@dataclass
class TalkWorld:
    """Talks and Chat built on fakes, with the identity fakes for users and workspaces."""

    identity: Identity = field(default_factory=Identity)
    talk_repo: FakeTalkRepository = field(default_factory=FakeTalkRepository)
    gateway: ScriptedGateway = field(default_factory=ScriptedGateway)
    usage: RecordingUsage = field(default_factory=RecordingUsage)
    file_context: FileContext = field(default_factory=NoAttachments)
    flush_interval: float = 60.0

    def __post_init__(self):
        self.events = self.identity.events
        self.message_repo = FakeMessageRepository(self.talk_repo)
        self.budgets = budgets_on_fakes(self.identity.workspace_repo, self.identity.memberships,
                                        access=self.identity.access)
        built = build_chat(
            talk_repo=self.talk_repo, message_repo=self.message_repo,
            workspace_repo=self.identity.workspace_repo, access=self.identity.access,
            events=self.events, llm=self.gateway, credentials=self.identity.provider_credentials,
            file_context=self.file_context,
            meter=ModelCallMeter(self.gateway, self.budgets, self.usage),
            limits=ChatLimits(max_generations=4, flush_interval_s=self.flush_interval))
        self.talks = built.talks
        self.generations = built.generations
        self.chat = built.chat

    def user(self, email: str) -> str:
        return self.identity.actor(email).user_id

    def workspace_of(self, user_id: str) -> str:
        return self.identity.workspace_repo.get_personal(user_id).id

    def page(self, size: int = 20, page: int = 1) -> PageRequest:
        return PageRequest(page, size)
