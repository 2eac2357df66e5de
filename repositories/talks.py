"""Talks and messages in MongoDB.

Listing a user's talks is one command and paging back through a talk one indexed range query
(two with a cursor), whatever the page size or the number of messages. Text search uses a
`$text` index where the server has one (checked once, when the indexes are created) and an
escaped, case-insensitive regex otherwise.
"""
from __future__ import annotations

import builtins
import re
from collections.abc import Iterator
from datetime import datetime

from bson import ObjectId
from pymongo import ASCENDING, DESCENDING, ReturnDocument
from pymongo.errors import OperationFailure

from entities.clock import utcnow
from entities.errors import ValidationFailed
from entities.pagination import Page, PageRequest
from entities.talk import (
    IN_CONTEXT,
    Message,
    MessagePage,
    MessageRole,
    MessageStatus,
    MessageUsage,
    ReplyControl,
    Talk,
    TalkSource,
)
from repositories.mongo import MongoRepository, maybe_object_id, ref, refs, text, texts
from use_cases.chat.ports import MessageRepository, TalkFilter, TalkRepository

SOURCE_INDEX = "talk_source"
TALK_FIELDS = ("name", "model", "system_prompt", "tags", "archived", "pinned")


class TextSearch:
    """Builds the filter for "contains `text`" on one field, with or without a text index."""

    def __init__(self, field: str):
        self.field = field
        self.indexed = False

    def create_index(self, collection, name: str) -> None:
        try:
            collection.create_index([(self.field, "text")], name=name, default_language="none")
            self.indexed = True
        except OperationFailure:  # e.g. the embedded development server: no text indexes
            self.indexed = False

    def condition(self, text: str) -> dict:
        if self.indexed:
            return {"$text": {"$search": '"' + text.replace('"', " ") + '"'}}
        return {self.field: {"$regex": re.escape(text), "$options": "i"}}


def _facet_page(collection, match: dict, sort: dict, skip: int, limit: int) -> tuple[list, int]:
    """One page of matches and their total in a single command."""
    result = next(collection.aggregate([
        {"$match": match},
        {"$sort": sort},
        {"$facet": {"items": [{"$skip": skip}, {"$limit": limit}], "total": [{"$count": "n"}]}},
    ]))
    total = result["total"][0]["n"] if result["total"] else 0
    return result["items"], total


def to_talk(doc: dict) -> Talk:
    count = doc.get("message_count", 0)
    return Talk(
        id=str(doc["_id"]), workspace_id=text(doc["workspace_id"]), user_id=text(doc["user_id"]),
        name=doc.get("name", ""), model=doc.get("model"), system_prompt=doc.get("system_prompt"),
        tags=list(doc.get("tags", [])), archived=doc.get("archived", False),
        pinned=doc.get("pinned", False), message_count=count,
        # stored as the creation time until the first message, so new talks sort as recent
        last_message_at=doc.get("last_message_at") if count else None,
        deleted_at=doc.get("deleted_at"), created_at=doc.get("created_at"),
        updated_at=doc.get("updated_at"), last_seq=doc.get("last_seq", 0),
        current_leaf_id=text(doc.get("current_leaf_id")), source=_source(doc.get("source")),
    )


def _source(stored: dict | None) -> TalkSource | None:
    if not isinstance(stored, dict) or not stored.get("id"):
        return None
    return TalkSource(format=str(stored.get("format", "")), id=str(stored["id"]))


class MongoTalkRepository(MongoRepository, TalkRepository):
    collection_name = "talks"
    indexes = [
        ([("user_id", ASCENDING), ("workspace_id", ASCENDING), ("deleted", ASCENDING),
          ("archived", ASCENDING), ("pinned", DESCENDING), ("last_message_at", DESCENDING)],
         {"name": "my_talks"}),
        # an imported conversation is stored once per user (imports skip what is already here)
        ([("user_id", ASCENDING), ("source.format", ASCENDING), ("source.id", ASCENDING)],
         {"name": SOURCE_INDEX, "unique": True,
          "partialFilterExpression": {"source.id": {"$exists": True}}}),
    ]

    def __init__(self, db):
        super().__init__(db)
        self.names = TextSearch("name")

    def ensure_indexes(self) -> None:
        super().ensure_indexes()
        self.names.create_index(self.collection, "talk_name_text")

    def add(self, talk: Talk) -> Talk:
        now = utcnow()
        doc = {
            "user_id": ref(talk.user_id), "workspace_id": ref(talk.workspace_id), "name": talk.name,
            "model": talk.model, "system_prompt": talk.system_prompt, "tags": list(talk.tags),
            "archived": talk.archived, "pinned": talk.pinned, "message_count": 0,
            "last_seq": 0, "last_message_at": now, "deleted": False, "deleted_at": None,
            "created_at": now, "updated_at": now,
        }
        doc["_id"] = self.collection.insert_one(doc).inserted_id
        return to_talk(doc)

    def _owned(self, talk_id: str, user_id: str, include_deleted: bool) -> dict | None:
        oid = maybe_object_id(talk_id)
        if oid is None:
            return None
        query: dict = {"_id": oid, "user_id": ref(user_id)}
        if not include_deleted:
            query["deleted"] = False
        return query

    def get(self, talk_id: str, user_id: str, include_deleted: bool = False) -> Talk | None:
        query = self._owned(talk_id, user_id, include_deleted)
        doc = self.collection.find_one(query) if query else None
        return to_talk(doc) if doc else None

    def get_many(self, talk_ids: list[str], user_id: str) -> list[Talk]:
        oids = [oid for oid in map(maybe_object_id, talk_ids) if oid]
        return [to_talk(doc) for doc in
                self.collection.find({"_id": {"$in": oids}, "user_id": ref(user_id)})]

    def _change(self, query: dict | None, changes: dict) -> Talk | None:
        if query is None:
            return None
        doc = self.collection.find_one_and_update(
            query, {"$set": {**changes, "updated_at": utcnow()}},
            return_document=ReturnDocument.AFTER)
        return to_talk(doc) if doc else None

    def update(self, talk_id: str, user_id: str, **changes) -> Talk | None:
        unknown = set(changes) - set(TALK_FIELDS)
        if unknown:
            raise ValueError(f"not talk fields: {sorted(unknown)}")
        return self._change(self._owned(talk_id, user_id, False), changes)

    def set_deleted(self, talk_id: str, user_id: str, deleted: bool) -> Talk | None:
        return self._change(self._owned(talk_id, user_id, True),
                            {"deleted": deleted, "deleted_at": utcnow() if deleted else None})

    @staticmethod
    def _filter(query: TalkFilter) -> dict:
        match: dict = {"user_id": ref(query.user_id), "deleted": query.deleted}
        if query.workspace_ids is not None:
            match["workspace_id"] = {"$in": refs(query.workspace_ids)}
        if query.archived is not None:
            match["archived"] = query.archived
        return match

    def list(self, query: TalkFilter, page: PageRequest) -> Page[Talk]:
        match = self._filter(query)
        if query.name_contains:
            match["name"] = {"$regex": re.escape(query.name_contains), "$options": "i"}
        items, total = _facet_page(self.collection, match,
                                   {"pinned": -1, "last_message_at": -1, "_id": -1},
                                   page.skip, page.size)
        return Page([to_talk(doc) for doc in items], page.page, page.size, total)

    def name_if_unnamed(self, talk_id: str, name: str) -> None:
        oid = maybe_object_id(talk_id)
        if oid is not None:
            self.collection.update_one({"_id": oid, "name": ""}, {"$set": {"name": name}})

    def record_messages(self, talk_id: str, added: int, at: datetime) -> None:
        oid = maybe_object_id(talk_id)
        if oid is None:
            return
        changes: dict = {"$inc": {"message_count": added}}
        if added > 0:
            changes["$max"] = {"last_message_at": at}
        self.collection.update_one({"_id": oid}, changes)

    def claim_reply(self, talk_id: str, message_id: str, until: datetime) -> str | None:
        oid = maybe_object_id(talk_id)
        if oid is None:
            return None
        for _ in range(5):  # the holder may end between the refused claim and the read
            now = utcnow()
            claimed = self.collection.find_one_and_update(
                {"_id": oid, "$or": [{"generating": None}, {"generating.until": {"$lte": now}}]},
                {"$set": {"generating": {"message_id": ref(message_id), "until": until}}},
                projection={"_id": True})
            if claimed is not None:
                return None
            doc = self.collection.find_one({"_id": oid}, {"generating": True})
            if doc is None:
                return None  # no such talk: nothing to hold it
            holder = doc.get("generating") or {}
            if holder.get("message_id"):
                return str(holder["message_id"])
        return ""  # contended throughout: refused, the holder unknown

    def release_reply(self, talk_id: str, message_id: str) -> None:
        oid = maybe_object_id(talk_id)
        if oid is not None:
            self.collection.update_one({"_id": oid, "generating.message_id": ref(message_id)},
                                       {"$set": {"generating": None}})

    def search_names(self, query: TalkFilter, text: str, skip: int,
                     limit: int) -> tuple[builtins.list[Talk], int]:
        match = {**self._filter(query), **self.names.condition(text)}
        items, total = _facet_page(self.collection, match,
                                   {"last_message_at": -1, "_id": -1}, skip, limit)
        return [to_talk(doc) for doc in items], total

    def deleted_ids(self, user_id: str) -> builtins.list[str]:
        return [str(oid) for oid in
                self.collection.distinct("_id", {"user_id": ref(user_id), "deleted": True})]


def to_message(doc: dict) -> Message:
    usage = doc.get("usage")
    return Message(
        id=str(doc["_id"]), talk_id=text(doc["talk_id"]), workspace_id=text(doc["workspace_id"]),
        user_id=text(doc["user_id"]), role=MessageRole(doc["role"]), content=doc.get("content", ""),
        status=MessageStatus(doc.get("status", "complete")), model=doc.get("model"),
        parent_id=text(doc.get("parent_id")), file_ids=texts(doc.get("file_ids")),
        usage=MessageUsage(**usage) if usage else None, latency_ms=doc.get("latency_ms"),
        error=doc.get("error"), error_code=doc.get("error_code"), created_at=doc.get("created_at"),
        updated_at=doc.get("updated_at"), delta_ends=doc.get("delta_ends"),
    )


def _stored(changes: dict) -> dict:
    """Entity values to document values."""
    stored = dict(changes)
    if "parent_id" in stored:
        stored["parent_id"] = ref(stored["parent_id"])
    if "file_ids" in stored:
        stored["file_ids"] = refs(stored["file_ids"])
    if isinstance(stored.get("status"), MessageStatus):
        stored["status"] = stored["status"].value
    if isinstance(stored.get("usage"), MessageUsage):
        usage = stored["usage"]
        stored["usage"] = {"prompt_tokens": usage.prompt_tokens,
                           "completion_tokens": usage.completion_tokens,
                           "cost_usd": usage.cost_usd}
    return stored


class MongoMessageRepository(MongoRepository, MessageRepository):
    """Messages are numbered within their talk (`seq`, from the talk's `last_seq` counter), so
    "the newest N before X" is a bounded index range, not a sort of the whole talk: fast on
    servers that cannot sort from an index too (the embedded development server)."""

    collection_name = "messages"
    indexes = [
        # every predicate of the hot queries is in its index (the embedded server needs that)
        ([("talk_id", ASCENDING), ("deleted", ASCENDING), ("seq", DESCENDING)],
         {"name": "talk_history"}),
        ([("talk_id", ASCENDING), ("status", ASCENDING)], {"name": "talk_status"}),
        ([("user_id", ASCENDING), ("workspace_id", ASCENDING), ("_id", DESCENDING)],
         {"name": "user_messages"}),
    ]

    def __init__(self, db):
        super().__init__(db)
        self.talks = db[MongoTalkRepository.collection_name]
        self.contents = TextSearch("content")

    def ensure_indexes(self) -> None:
        super().ensure_indexes()
        self.contents.create_index(self.collection, "message_text")

    def new_id(self) -> str:
        return str(ObjectId())

    def add(self, message: Message) -> Message:
        """The talk's counter moves only after the insert: a message the store refuses leaves
        `message_count` as it was (a `seq` number may be skipped, which orders nothing wrong)."""
        now = utcnow()
        talk = self.talks.find_one_and_update(
            {"_id": ref(message.talk_id)}, {"$inc": {"last_seq": 1}},
            projection={"last_seq": True}, return_document=ReturnDocument.AFTER)
        doc = {
            "talk_id": ref(message.talk_id), "seq": talk["last_seq"] if talk else 0,
            "workspace_id": ref(message.workspace_id), "user_id": ref(message.user_id),
            "role": message.role.value, "content": message.content,
            "status": message.status.value, "model": message.model,
            "parent_id": ref(message.parent_id), "file_ids": refs(message.file_ids),
            "latency_ms": message.latency_ms, "error": message.error,
            "error_code": message.error_code, "deleted": False, "stop_requested": False,
            "created_at": now, "updated_at": now,
        }
        if message.usage is not None:
            doc["usage"] = _stored({"usage": message.usage})["usage"]
        if message.delta_ends is not None:
            doc["delta_ends"] = list(message.delta_ends)
        if message.id:
            doc["_id"] = ObjectId(message.id)
        doc["_id"] = self.collection.insert_one(doc).inserted_id
        self.talks.update_one({"_id": ref(message.talk_id)},
                              {"$inc": {"message_count": 1}, "$max": {"last_message_at": now}})
        return to_message(doc)

    def _doc(self, message_id: str, talk_id: str, projection: dict | None = None) -> dict | None:
        oid, talk = maybe_object_id(message_id), maybe_object_id(talk_id)
        if oid is None or talk is None:
            return None
        return self.collection.find_one({"_id": oid, "talk_id": talk, "deleted": False},
                                        projection)

    def get(self, message_id: str, talk_id: str) -> Message | None:
        doc = self._doc(message_id, talk_id)
        return to_message(doc) if doc else None

    def _newest(self, talk_id: str, below_seq: int, count: int) -> list[dict]:
        """Up to `count` live messages numbered below `below_seq`, newest first: a range of
        numbers, widened only when deleted messages leave it short."""
        span = count
        while True:
            lower = max(0, below_seq - span)
            docs = list(self.collection.find({
                "talk_id": ref(talk_id), "deleted": False,
                "seq": {"$gte": lower, "$lt": below_seq},
            }).sort("seq", DESCENDING).limit(count))
            if len(docs) >= count or lower == 0:
                return docs
            span *= 4

    def _seq_of(self, message_id: str, talk_id: str, field: str) -> int:
        doc = self._doc(message_id, talk_id, {"seq": True})
        if doc is None:
            raise ValidationFailed("Unknown message", {field: ["Not a message of this talk."]})
        return int(doc.get("seq", 0))

    def page(self, talk: Talk, limit: int, before: str | None) -> MessagePage:
        top = talk.last_seq + 1 if before is None else self._seq_of(before, talk.id, "before")
        docs = self._newest(talk.id, top, limit + 1)
        return MessagePage([to_message(doc) for doc in reversed(docs[:limit])],
                           len(docs) > limit)

    def history(self, talk: Talk, up_to: str | None, limit: int) -> list[Message]:
        top = talk.last_seq + 1 if up_to is None else self._seq_of(up_to, talk.id, "up_to") + 1
        in_context = {status.value for status in IN_CONTEXT}
        return [to_message(doc) for doc in reversed(self._newest(talk.id, top, limit))
                if doc.get("status") in in_context]

    def all(self, talk_id: str) -> Iterator[Message]:
        oid = maybe_object_id(talk_id)
        if oid is None:
            return iter(())
        cursor = self.collection.find({"talk_id": oid, "deleted": False}).sort("seq", ASCENDING)
        return (to_message(doc) for doc in cursor)

    def update(self, message_id: str, **changes) -> Message | None:
        oid = maybe_object_id(message_id)
        if oid is None:
            return None
        doc = self.collection.find_one_and_update(
            {"_id": oid}, {"$set": {**_stored(changes), "updated_at": utcnow()}},
            return_document=ReturnDocument.AFTER)
        return to_message(doc) if doc else None

    def save_progress(self, message_id: str, content: str,
                      delta_ends: list[int] | None = None) -> ReplyControl:
        changes: dict = {"content": content, "updated_at": utcnow()}
        if delta_ends is not None:
            changes["delta_ends"] = list(delta_ends)
        doc = self.collection.find_one_and_update(
            {"_id": ObjectId(message_id)}, {"$set": changes},
            projection={"stop_requested": True, "followers": True}) or {}
        return ReplyControl(stop_requested=bool(doc.get("stop_requested")),
                            followed=doc.get("followers", 0) > 0)

    def add_follower(self, message_id: str, count: int) -> None:
        oid = maybe_object_id(message_id)
        if oid is not None:
            self.collection.update_one({"_id": oid}, {"$inc": {"followers": count}})

    def _streaming_docs(self, talk_id: str, projection: dict | None = None) -> list[dict]:
        oid = maybe_object_id(talk_id)
        if oid is None:
            return []
        docs = self.collection.find({"talk_id": oid, "status": MessageStatus.STREAMING.value},
                                    projection)
        return sorted((doc for doc in docs if not doc.get("deleted")), key=lambda d: d["_id"])

    def request_stop(self, talk_id: str) -> list[str]:
        ids = [doc["_id"] for doc in self._streaming_docs(talk_id, {"deleted": True})]
        if ids:
            self.collection.update_many({"_id": {"$in": ids}}, {"$set": {"stop_requested": True}})
        return [str(oid) for oid in ids]

    def streaming(self, talk_id: str) -> list[Message]:
        return [to_message(doc) for doc in self._streaming_docs(talk_id)]

    def set_deleted(self, message_id: str, talk_id: str) -> bool:
        doc = self._doc(message_id, talk_id, {"_id": True})
        if doc is None:
            return False
        result = self.collection.update_one({"_id": doc["_id"], "deleted": False},
                                            {"$set": {"deleted": True, "deleted_at": utcnow()}})
        return result.modified_count == 1

    def search(self, query: TalkFilter, text: str, exclude_talk_ids: list[str], skip: int,
               limit: int) -> tuple[list[Message], int]:
        match: dict = {"user_id": ref(query.user_id), "deleted": False,
                       **self.contents.condition(text)}
        if query.workspace_ids is not None:
            match["workspace_id"] = {"$in": refs(query.workspace_ids)}
        if exclude_talk_ids:
            match["talk_id"] = {"$nin": refs(exclude_talk_ids)}
        items, total = _facet_page(self.collection, match, {"_id": -1}, skip, limit)
        return [to_message(doc) for doc in items], total
