"""The database of unit tests: mongomock, so unit tests run the real MongoDB repositories in memory.

tests/contract/ runs what the repositories do on mongomock and on a real MongoDB wire server and
checks both give the same results: that is what makes mongomock a faithful stand-in here.

Some unit tests reach into what a repository stored (a session made to expire, a stop flag set "as
another worker would"); `StoredRows` shows a collection as the rows those tests expect.
"""
from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import asdict, is_dataclass
from enum import Enum
from typing import Any, TypeVar

import mongomock

from repositories.mongo import maybe_object_id, ref, refs

R = TypeVar("R")


def memory_database(name: str = "unit"):
    """A fresh in-memory database, with tz-aware datetimes like `repositories.mongo.connect`."""
    return mongomock.MongoClient(tz_aware=True)[name]


def on_mongomock(repository_class: Callable[[Any], R], db=None) -> R:
    """`repository_class` over `db` (default: a fresh in-memory database), its indexes created."""
    repository = repository_class(db if db is not None else memory_database())
    repository.ensure_indexes()  # type: ignore[attr-defined]
    return repository


REFERENCE_NAMES = ("created_by", "updated_by", "uploaded_by")


def stored_field(name: str, value: Any) -> Any:
    """An entity's field as a document holds it: references to other documents as ObjectIds
    (repositories/mongo.py), the rest as `stored` makes it."""
    if name.endswith("_ids") and isinstance(value, list):
        return refs(value)
    if name.endswith("_id") or name in REFERENCE_NAMES:
        return ref(value)
    return stored(value)


def stored(value: Any) -> Any:
    """An entity's value as a document holds it: enums by value, dataclasses as dicts."""
    if isinstance(value, Enum):
        return value.value
    if is_dataclass(value) and not isinstance(value, type):
        return asdict(value)
    if isinstance(value, list):
        return [stored(item) for item in value]
    return value


class StoredRow:
    """One stored document seen as its entity: every attribute read reads the document again,
    setting an attribute writes that field."""

    __slots__ = ("_collection", "_id", "_to_entity")

    def __init__(self, collection, doc_id, to_entity: Callable[[dict], Any]):
        object.__setattr__(self, "_collection", collection)
        object.__setattr__(self, "_id", doc_id)
        object.__setattr__(self, "_to_entity", to_entity)

    def __getattr__(self, name: str) -> Any:
        doc = self._collection.find_one({"_id": self._id})
        if doc is None:
            raise LookupError(f"document {self._id} is gone")
        return getattr(self._to_entity(doc), name)

    def __setattr__(self, name: str, value: Any) -> None:
        self._collection.update_one({"_id": self._id}, {"$set": {name: stored_field(name, value)}})

    def __repr__(self) -> str:
        doc = self._collection.find_one({"_id": self._id})
        return f"StoredRow({self._to_entity(doc) if doc else None!r})"


class StoredRows(Mapping):
    """A collection as {key: row}, read afresh at every access. Rows are `StoredRow`s (`live`) or
    entities, which `rows[key] = entity` stores whole (a copy with one field changed...)."""

    def __init__(self, collection, to_entity: Callable[[dict], Any], key: str = "_id",
                 live: bool = True):
        self.collection = collection
        self.to_entity = to_entity
        self.key = key
        self.live = live

    def _query(self, key: str) -> dict:
        if self.key == "_id":
            return {"_id": maybe_object_id(key) or key}
        return {self.key: ref(key)}

    def __getitem__(self, key: str) -> Any:
        doc = self.collection.find_one(self._query(key))
        if doc is None:
            raise KeyError(key)
        return StoredRow(self.collection, doc["_id"], self.to_entity) if self.live else self.to_entity(doc)

    def __setitem__(self, key: str, entity: Any) -> None:
        document = {name: stored_field(name, value) for name, value in vars(entity).items()
                    if name != "id"}
        if self.collection.replace_one(self._query(key), document).matched_count != 1:
            raise KeyError(key)

    def __iter__(self) -> Iterator[str]:
        return iter([str(doc[self.key]) for doc in self.collection.find({}, {self.key: 1})])

    def __len__(self) -> int:
        return self.collection.count_documents({})
