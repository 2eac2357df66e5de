"""The one MongoClient of a process, and small helpers every repository shares."""
from __future__ import annotations

from collections.abc import Iterable

from bson import ObjectId
from bson.errors import InvalidId
from pymongo import MongoClient
from pymongo.database import Database
from pymongo.monitoring import CommandListener

from entities.pagination import Page, PageRequest


def connect(
    uri: str,
    timeout_ms: int = 2000,
    listeners: Iterable[CommandListener] = (),
) -> MongoClient:
    """A client that fails fast: an unreachable server raises within ~timeout_ms."""
    return MongoClient(
        uri,
        serverSelectionTimeoutMS=timeout_ms,
        connectTimeoutMS=timeout_ms,
        socketTimeoutMS=max(timeout_ms * 10, 30_000),
        tz_aware=True,
        appname="synapscale",
        event_listeners=list(listeners),
        connect=False,  # sockets open on first use, after gunicorn has forked
    )


def maybe_object_id(value: str | None) -> ObjectId | None:
    try:
        return ObjectId(value) if value else None
    except (InvalidId, TypeError):
        return None


def paginate(collection, query: dict, request: PageRequest, sort: list, mapper) -> Page:
    total = collection.count_documents(query)
    cursor = collection.find(query).sort(sort).skip(request.skip).limit(request.size)
    return Page([mapper(doc) for doc in cursor], request.page, request.size, total)


class MongoRepository:
    """Base for repositories: holds the database and declares indexes."""

    collection_name: str = ""
    indexes: list[tuple[list, dict]] = []

    def __init__(self, db: Database):
        self.db = db
        self.collection = db[self.collection_name]

    def find_by_id(self, id_: str, include_deleted: bool = False) -> dict | None:
        """The document with this id; soft-deleted ones only when asked for."""
        oid = maybe_object_id(id_)
        if oid is None:
            return None
        query: dict = {"_id": oid}
        if not include_deleted:
            query["deleted_at"] = None
        return self.collection.find_one(query)

    def ensure_indexes(self) -> None:
        for keys, options in self.indexes:
            self.collection.create_index(keys, **options)


def ping(db: Database) -> None:
    db.command("ping")
