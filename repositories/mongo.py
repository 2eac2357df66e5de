"""The one MongoClient of a process, and small helpers every repository shares.

One id convention: a field that refers to another document's `_id` (`user_id`, `workspace_id`,
`talk_id`, `file_ids`...) holds an ObjectId, like the `_id` it names, so MongoDB tools (Mongo
Express, Compass, `mongosh`) find and join documents by it. Above the repositories ids are
strings: `ref()`/`refs()` turn them into what is stored (and what queries compare with), `text()`/
`texts()` turn stored values back. A string that is not an ObjectId's 24 hex digits is stored as
it is (no document has such an id; unit tests use short names like "u1"). Ids that are not
ObjectIds by nature stay strings: blob ids ("s3:..."), idempotency keys, "resp_..." ids, provider
and model names, counter keys (see data/migrations/ for the full list).
"""
from __future__ import annotations

from collections.abc import Iterable
from typing import Any

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


def ref(value: str | None) -> Any:
    """A reference as stored: the ObjectId of an id string, None as None, anything else as is."""
    if value is None or isinstance(value, ObjectId):
        return value
    return maybe_object_id(value) or value


def refs(values) -> list:
    """A list of references as stored (see `ref`)."""
    return [ref(value) for value in values]


def text(value) -> Any:
    """A stored reference as the id string the layers above use; None as None (typed Any so
    that a required field's mapping reads `text(doc["user_id"])` without a cast)."""
    return None if value is None else str(value)


def texts(values) -> list[str]:
    """Stored references as id strings."""
    return [str(value) for value in values or []]


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
