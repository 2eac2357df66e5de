"""Fakes of the chat ports (use_cases/chat/ports.py), and `TalkWorld`: the talk and chat use
cases built by bootstrap.chat on them, next to the identity fakes. Talks and messages are the
MongoDB repositories over the identity's in-memory (mongomock) database."""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from bson import ObjectId

from bootstrap.chat import ChatLimits, build_chat
from controllers.schemas.talks import SchemaRepresentation
from entities.errors import NotFound, ValidationFailed
from entities.pagination import PageRequest
from repositories.mongo import MongoRepository
from repositories.shares import MongoShareRepository
from repositories.talks import MongoMessageRepository, MongoTalkRepository, to_message
from tests.fakes.database import StoredRows, on_mongomock
from tests.fakes.gateway import FakeLLMGateway, MongomockUsageRepository, budgets_on_fakes
from tests.fakes.identity import Identity
from use_cases.chat.ports import FileContext, TalkAgents
from use_cases.gateway.metered_call import ModelCallMeter
from use_cases.gateway.usage_recorder import UsageRecorder


class MongomockTalkRepository(MongoTalkRepository):
    """MongoTalkRepository without its text index: mongomock accepts one but cannot run `$text`,
    so names are searched by regex, as on servers without text indexes."""

    def ensure_indexes(self) -> None:
        MongoRepository.ensure_indexes(self)


class _StopFlags:
    """The messages asked to stop (a stop another worker asked for is `stop_flags.add(id)`)."""

    def __init__(self, collection):
        self.collection = collection

    def add(self, message_id: str) -> None:
        self.collection.update_one({"_id": ObjectId(message_id)}, {"$set": {"stop_requested": True}})

    def __contains__(self, message_id: object) -> bool:
        return self.collection.count_documents(
            {"_id": ObjectId(str(message_id)), "stop_requested": True}) == 1


class _Followers(Mapping):
    """Message id -> how many follow it from elsewhere."""

    def __init__(self, collection):
        self.collection = collection

    def __getitem__(self, message_id: str) -> int:
        doc = self.collection.find_one({"_id": ObjectId(message_id)}, {"followers": 1})
        return doc.get("followers", 0) if doc else 0

    def __iter__(self):
        return iter([str(doc["_id"]) for doc in self.collection.find({"followers": {"$gt": 0}})])

    def __len__(self) -> int:
        return self.collection.count_documents({"followers": {"$gt": 0}})


class MongomockMessageRepository(MongoMessageRepository):
    """MongoMessageRepository without its text index (searched by regex, as for talks), with
    every save_progress in `progress_saves`, and its messages as `rows`, `stop_flags` and
    `followers`."""

    def __init__(self, db):
        super().__init__(db)
        self.progress_saves: list[tuple[str, str]] = []

    def ensure_indexes(self) -> None:
        MongoRepository.ensure_indexes(self)

    def save_progress(self, message_id, content, delta_ends=None):
        self.progress_saves.append((message_id, content))
        return super().save_progress(message_id, content, delta_ends)

    @property
    def rows(self) -> StoredRows:
        return StoredRows(self.collection, to_message)

    @property
    def stop_flags(self) -> _StopFlags:
        return _StopFlags(self.collection)

    @property
    def followers(self) -> _Followers:
        return _Followers(self.collection)


class FakeFileContext(FileContext):
    """`files`: file id -> its content parts; None: a server where files cannot be attached."""

    def __init__(self, files: dict[str, list[dict]] | None = None):
        self.files = files
        self.calls: list[tuple[str, str, list[str]]] = []

    def for_message(self, user_id, workspace_id, file_ids):
        self.calls.append((user_id, workspace_id, list(file_ids)))
        if self.files is None:
            raise ValidationFailed("File attachments are not available",
                                   {"file_ids": ["Files cannot be attached on this server."]})
        parts = []
        for file_id in file_ids:
            if file_id not in self.files:
                raise NotFound("File not found")
            parts += self.files[file_id]
        return parts


class NoTalkAgents(TalkAgents):
    """A world without agents: every agent id is unknown."""

    def check(self, user_id, workspace_id, agent_id):
        raise NotFound("Agent not found")

    def for_reply(self, user_id, workspace_id, agent_id, talk_id, cancelled, file_ids=()):
        raise NotFound("Agent not found")


@dataclass
class TalkWorld:
    """Talks and Chat built on fakes, with the identity fakes for users and workspaces."""

    identity: Identity = field(default_factory=Identity)
    gateway: FakeLLMGateway = field(default_factory=FakeLLMGateway)
    file_context: FileContext = field(default_factory=FakeFileContext)
    flush_interval: float = 60.0

    def __post_init__(self):
        db = self.identity.db
        self.events = self.identity.events
        self.talk_repo = on_mongomock(MongomockTalkRepository, db)
        self.message_repo = on_mongomock(MongomockMessageRepository, db)
        self.usage = on_mongomock(MongomockUsageRepository, db)
        self.share_repo = on_mongomock(MongoShareRepository, db)
        self.budgets = budgets_on_fakes(self.identity.workspace_repo, self.identity.memberships,
                                        access=self.identity.access)
        built = build_chat(
            talk_repo=self.talk_repo, message_repo=self.message_repo,
            workspace_repo=self.identity.workspace_repo, access=self.identity.access,
            events=self.events, llm=self.gateway, credentials=self.identity.provider_credentials,
            file_context=self.file_context,
            meter=ModelCallMeter(self.gateway, self.budgets, UsageRecorder(self.usage)),
            representation=SchemaRepresentation(), agents=NoTalkAgents(),
            limits=ChatLimits(max_generations=4, flush_interval_s=self.flush_interval),
            share_repo=self.share_repo)
        self.talks = built.talks
        self.branches = built.branches
        self.shares = built.shares
        self.generations = built.generations
        self.chat = built.chat

    def user(self, email: str) -> str:
        return self.identity.actor(email).user_id

    def workspace_of(self, user_id: str) -> str:
        return self.identity.workspace_repo.get_personal(user_id).id

    def page(self, size: int = 20, page: int = 1) -> PageRequest:
        return PageRequest(page, size)
