"""Converting stored references between id strings and ObjectIds, in place, on a live database.

Used by the migrations in data/migrations/. Every change is one conditional update per document
(`{_id, <field>: <value read>}`): a document changed meanwhile is not overwritten, it is read
again by the next pass. Documents are read in `_id` order, a batch at a time (an `_id` range per
query, so no cursor stays open for long), and written with one unordered bulk write per batch.
Running a conversion again finds nothing left to convert: it is idempotent per document.

Paths are dotted: `user_id`, `file_ids` (an array of ids), `versions.uploaded_by` (a field of
each subdocument of an array), `generating.message_id` (a field of a subdocument).
"""
from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from contextlib import suppress
from dataclasses import dataclass, field
from typing import Any

from bson import ObjectId
from bson.errors import InvalidId
from pymongo import ASCENDING, UpdateOne
from pymongo.database import Database
from pymongo.errors import BulkWriteError, DuplicateKeyError

log = logging.getLogger(__name__)

BATCH = 500
MAX_PASSES = 5  # a pass converts all but documents changed meanwhile; those go in the next one
DUPLICATE_KEY = 11000


@dataclass
class Outcome:
    """What a conversion did to one collection."""

    collection: str
    converted: int = 0  # documents changed
    conflicts: int = 0  # left as they were: converting them would duplicate a unique key
    skipped: list[str] = field(default_factory=list)  # values that are not ids, left as strings

    def __str__(self) -> str:
        text = f"{self.collection}: {self.converted} document(s) converted"
        if self.conflicts:
            text += f", {self.conflicts} left (a newer document holds the same unique key)"
        if self.skipped:
            text += f", {len(self.skipped)} value(s) that are not ids kept as strings"
        return text


def to_object_id(value: Any) -> Any:
    """An id string as ObjectId; anything else (not an id, already an ObjectId) as it is."""
    if isinstance(value, str):
        try:
            return ObjectId(value)
        except (InvalidId, TypeError):
            return value
    return value


def to_string(value: Any) -> Any:
    """An ObjectId as its 24 hex digits; anything else as it is."""
    return str(value) if isinstance(value, ObjectId) else value


def _convert(value: Any, parts: list[str], convert: Callable[[Any], Any]) -> Any:
    """`value` with what `parts` names converted; lists are walked element by element."""
    if isinstance(value, list):
        return [_convert(item, parts, convert) for item in value]
    if not parts:
        return convert(value)
    if isinstance(value, dict) and parts[0] in value:
        return {**value, parts[0]: _convert(value[parts[0]], parts[1:], convert)}
    return value


def _leftovers(value: Any, parts: list[str], found: list[str]) -> None:
    """Strings still at `parts` (after a conversion to ObjectId: values that are not ids)."""
    if isinstance(value, list):
        for item in value:
            _leftovers(item, parts, found)
    elif not parts:
        if isinstance(value, str):
            found.append(value)
    elif isinstance(value, dict) and parts[0] in value:
        _leftovers(value[parts[0]], parts[1:], found)


def convert_references(db: Database, collection: str, paths: Iterable[str],
                       to_objectid: bool = True, batch: int = BATCH) -> Outcome:
    """Converts the references at `paths` of every document of `collection` to ObjectIds
    (`to_objectid`) or back to strings. Returns what it did."""
    paths = list(paths)
    convert = to_object_id if to_objectid else to_string
    stored_type = "string" if to_objectid else "objectId"
    tops = sorted({path.split(".")[0] for path in paths})
    needs = {"$or": [{path: {"$type": stored_type}} for path in paths]}
    outcome = Outcome(collection)
    skipped: set = set()
    for _pass in range(MAX_PASSES):
        changed, last_id = 0, None
        while True:
            query = needs if last_id is None else {"$and": [needs, {"_id": {"$gt": last_id}}]}
            docs = list(db[collection].find(query, {top: 1 for top in tops})
                        .sort("_id", ASCENDING).limit(batch))
            if not docs:
                break
            last_id = docs[-1]["_id"]
            updates = []
            for doc in docs:
                new = {top: doc[top] for top in tops if top in doc}
                for path in paths:
                    top, *rest = path.split(".")
                    if top in new:
                        new[top] = _convert(new[top], rest, convert)
                # an ObjectId never equals a string, so a converted value always differs
                changes = {top: value for top, value in new.items() if value != doc[top]}
                if changes:
                    read = {top: doc[top] for top in changes}
                    updates.append(UpdateOne({"_id": doc["_id"], **read}, {"$set": changes}))
                if to_objectid and doc["_id"] not in skipped:
                    left: list[str] = []
                    for path in paths:
                        top, *rest = path.split(".")
                        _leftovers(new.get(top), rest, left)
                    if left:
                        skipped.add(doc["_id"])
                        outcome.skipped += left
            changed += _write(db, collection, updates, outcome)
        outcome.converted += changed
        if changed == 0:
            break
    log.info("%s", outcome)
    return outcome


def _write(db: Database, collection: str, updates: list[UpdateOne], outcome: Outcome) -> int:
    if not updates:
        return 0
    try:
        return db[collection].bulk_write(updates, ordered=False).modified_count
    except BulkWriteError as error:
        errors = error.details.get("writeErrors", [])
        if any(e.get("code") != DUPLICATE_KEY for e in errors):
            raise
        outcome.conflicts += len(errors)
        return int(error.details.get("nModified", 0))


def rekey_counters(db: Database, collection: str, counter: str, to_objectid: bool = True) -> Outcome:
    """Moves counter documents keyed by an id string (`{_id: "<id>", <counter>: n}`) to the
    ObjectId key (or back), adding their count to what is there already: the app may have
    counted under the new key before this ran. Each source key is recorded in the target's
    `merged_from`, so a run interrupted between the addition and the deletion never adds twice."""
    convert = to_object_id if to_objectid else to_string
    outcome = Outcome(collection)
    query = {"_id": {"$type": "string" if to_objectid else "objectId"}}
    for doc in list(db[collection].find(query)):
        source, target = doc["_id"], convert(doc["_id"])
        if type(target) is type(source):
            outcome.skipped.append(str(source))
            continue
        with suppress(DuplicateKeyError):  # merged already, by an earlier interrupted run
            db[collection].update_one(
                {"_id": target, "merged_from": {"$ne": source}},
                {"$inc": {counter: doc.get(counter, 0)}, "$push": {"merged_from": source}},
                upsert=True)
        db[collection].delete_one({"_id": source, counter: doc.get(counter, 0)})
        outcome.converted += 1
    log.info("%s", outcome)
    return outcome
