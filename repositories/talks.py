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
from dataclasses import replace
from datetime import datetime

from bson import ObjectId
from pymongo import ASCENDING, DESCENDING, ReturnDocument
from pymongo.errors import OperationFailure

from entities.clock import utcnow
from entities.errors import ValidationFailed
from entities.message_tree import MessageNode, implied_parents, path_to
from entities.pagination import Page, PageRequest
from entities.talk import (
    ON_PATH_CONTEXT,
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
        agent_id=text(doc.get("agent_id")),
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
            "agent_id": ref(talk.agent_id),
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

    def set_current_leaf(self, talk_id: str, leaf_id: str) -> None:
        oid = maybe_object_id(talk_id)
        if oid is not None:
            self.collection.update_one({"_id": oid}, {"$set": {"current_leaf_id": ref(leaf_id)}})

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
        tool_calls=doc.get("tool_calls"), tool_call_id=doc.get("tool_call_id"),
        name=doc.get("name"),
    )


NODES_BATCH = 100_000
BY_ID_AT_MOST = 100  # a path's messages read by id up to this many, by seq range beyond
NODE_FIELDS = {"parent_id": True, "role": True, "status": True, "created_at": True, "seq": True,
               "deleted": True}


def to_node(doc: dict) -> MessageNode:
    return MessageNode(
        id=str(doc["_id"]), parent_id=text(doc.get("parent_id")), role=MessageRole(doc["role"]),
        status=MessageStatus(doc.get("status", "complete")), created_at=doc.get("created_at"),
        seq=int(doc.get("seq", 0)), deleted=bool(doc.get("deleted")))


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


def message_document(message: Message, seq: int) -> dict:
    """The stored form of a new message numbered `seq` (its `_id` is the message's id, or a new
    one): every field a message can carry, an agent's tool call fields included."""
    doc = {
        "_id": ObjectId(message.id) if message.id else ObjectId(),
        "talk_id": ref(message.talk_id), "seq": seq,
        "workspace_id": ref(message.workspace_id), "user_id": ref(message.user_id),
        "role": message.role.value, "content": message.content,
        "status": message.status.value, "model": message.model,
        "parent_id": ref(message.parent_id), "file_ids": refs(message.file_ids),
        "latency_ms": message.latency_ms, "error": message.error,
        "error_code": message.error_code, "deleted": False, "stop_requested": False,
        "created_at": message.created_at, "updated_at": message.updated_at,
    }
    if message.usage is not None:
        doc["usage"] = _stored({"usage": message.usage})["usage"]
    if message.tool_calls is not None:  # [{id, name, arguments (JSON text)}]: safe keys
        doc["tool_calls"] = [dict(call) for call in message.tool_calls]
    if message.tool_call_id is not None:
        doc["tool_call_id"], doc["name"] = message.tool_call_id, message.name
    return doc


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
        # a branch's path is walked up through windows of `seq`, deleted messages included
        ([("talk_id", ASCENDING), ("seq", DESCENDING)], {"name": "talk_tree"}),
        # does anything follow a message (switching to a leaf reads no other node)
        ([("talk_id", ASCENDING), ("parent_id", ASCENDING), ("deleted", ASCENDING)],
         {"name": "talk_children"}),
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
        doc = message_document(replace(message, created_at=now, updated_at=now),
                               talk["last_seq"] if talk else 0)
        if message.delta_ends is not None:
            doc["delta_ends"] = list(message.delta_ends)
        doc["_id"] = self.collection.insert_one(doc).inserted_id
        self.talks.update_one({"_id": ref(message.talk_id)},
                              {"$inc": {"message_count": 1}, "$max": {"last_message_at": now},
                               "$set": {"current_leaf_id": doc["_id"]}})
        return to_message(doc)

    def add_many(self, talk_id: str, messages: list[Message]) -> list[Message]:
        """Numbers the block with one counter move and inserts it in one command."""
        if not messages:
            return []
        now = utcnow()
        talk = self.talks.find_one_and_update(
            {"_id": ref(talk_id)}, {"$inc": {"last_seq": len(messages)}},
            projection={"last_seq": True}, return_document=ReturnDocument.AFTER)
        first = (talk["last_seq"] if talk else len(messages)) - len(messages) + 1
        docs = [message_document(replace(message, talk_id=talk_id,
                                         created_at=message.created_at or now,
                                         updated_at=message.updated_at or now), first + offset)
                for offset, message in enumerate(messages)]
        self.collection.insert_many(docs)
        self.talks.update_one({"_id": ref(talk_id)},
                              {"$inc": {"message_count": len(docs)},
                               "$max": {"last_message_at": now},
                               "$set": {"current_leaf_id": docs[-1]["_id"]}})
        return [to_message(doc) for doc in docs]

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

    def page(self, talk: Talk, limit: int, before: str | None,
             every_branch: bool = False) -> MessagePage:
        if not every_branch:
            return self._path_page(talk, limit, before)
        top = talk.last_seq + 1 if before is None else self._seq_of(before, talk.id, "before")
        docs = self._newest(talk.id, top, limit + 1)
        return MessagePage([to_message(doc) for doc in reversed(docs[:limit])],
                           len(docs) > limit)

    def nodes(self, talk_id: str) -> builtins.list[MessageNode]:
        oid = maybe_object_id(talk_id)
        if oid is None:
            return []
        # one reply for the whole talk (nodes are small), not batches of 101
        cursor = self.collection.find({"talk_id": oid}, NODE_FIELDS).batch_size(NODES_BATCH)
        return [to_node(doc) for doc in cursor]

    def has_children(self, talk_id: str, message_id: str) -> bool:
        talk, oid = maybe_object_id(talk_id), maybe_object_id(message_id)
        if talk is None or oid is None:
            return False
        return self.collection.find_one({"talk_id": talk, "parent_id": oid, "deleted": False},
                                        {"_id": True}) is not None

    def _path_nodes(self, talk: Talk, leaf_id: str | None, field: str,
                    need: int | None = None, exclusive: bool = False) -> list[MessageNode]:
        """The live nodes of the path root -> `leaf_id` (None: the talk's current leaf), root
        first: the last `need` of them (None: all); with `exclusive`, without `leaf_id` itself.
        ValidationFailed (on `field`) when `leaf_id` is not a message of the talk (a deleted
        one is: its path still counts)."""
        if talk.current_leaf_id is None:  # stored before trees: one line, in creation order
            nodes = implied_parents(self.nodes(talk.id))
            by_id = {node.id: node for node in nodes}
            start = leaf_id or (nodes[-1].id if nodes else None)
            if leaf_id is not None and leaf_id not in by_id:
                raise ValidationFailed("Unknown message", {field: ["Not a message of this talk."]})
            walked = path_to(by_id, start)
            if exclusive:
                walked = walked[:-1]
            live = [node for node in walked if not node.deleted]
            return live[-need:] if need else live
        return self._walk_up(talk, leaf_id or talk.current_leaf_id, field, need, exclusive)

    def _walk_up(self, talk: Talk, start_id: str, field: str, need: int | None,
                 exclusive: bool) -> list[MessageNode]:
        """Follows `parent_id` up from `start_id`, reading the talk's nodes (no content) in
        windows of `seq` below it, widening each time: a parent is almost always stored before
        its child, so the next window holds it (one that is not is read by id). A path of N
        messages reads about N nodes, whatever the size of the talk, in a few indexed range
        queries."""
        first = maybe_object_id(start_id)
        doc = self.collection.find_one({"_id": first, "talk_id": ref(talk.id)},
                                       NODE_FIELDS) if first else None
        if doc is None:
            raise ValidationFailed("Unknown message", {field: ["Not a message of this talk."]})
        current = to_node(doc)
        loaded: dict[str, MessageNode] = {current.id: current}
        low = current.seq
        span = max(64, 2 * (need or 256))
        walked: list[MessageNode] = [] if exclusive else [current]
        live = sum(1 for node in walked if not node.deleted)
        seen = {current.id}
        while current.parent_id and (need is None or live < need):
            parent = loaded.get(current.parent_id)
            if parent is None and low <= 0:
                # stored after its child (an agent's streamed reply is stored before the tool
                # messages it follows): read it by id; none there, the path starts here
                found = self.collection.find_one(
                    {"_id": maybe_object_id(current.parent_id), "talk_id": ref(talk.id)},
                    NODE_FIELDS)
                if found is None:
                    break
                parent = loaded[str(found["_id"])] = to_node(found)
            if parent is None:
                below = max(0, low - span)
                for found in self.collection.find(
                        {"talk_id": ref(talk.id), "seq": {"$gte": below, "$lt": low}},
                        NODE_FIELDS).batch_size(NODES_BATCH):
                    node = to_node(found)
                    loaded[node.id] = node
                low, span = below, span * 4
                continue
            if parent.id in seen:
                break  # never follow a cycle
            seen.add(parent.id)
            walked.append(parent)
            live += 0 if parent.deleted else 1
            current = parent
        walked.reverse()
        nodes = [node for node in walked if not node.deleted]
        return nodes[-need:] if need else nodes

    def _messages(self, talk_id: str, nodes: list[MessageNode]) -> list[Message]:
        """The messages of `nodes` with their content, in that order: by id for a few, else by
        the `seq` range they span (one indexed range query, not a long `$in`)."""
        if not nodes:
            return []
        ids = [node.id for node in nodes]
        if len(ids) <= BY_ID_AT_MOST:
            query: dict = {"_id": {"$in": [ObjectId(i) for i in ids]}, "talk_id": ref(talk_id)}
        else:
            seqs = [node.seq for node in nodes]
            query = {"talk_id": ref(talk_id), "seq": {"$gte": min(seqs), "$lte": max(seqs)}}
        wanted = set(ids)
        docs = {str(doc["_id"]): doc
                for doc in self.collection.find(query).batch_size(NODES_BATCH)
                if str(doc["_id"]) in wanted}
        return [to_message(docs[i]) for i in ids if i in docs]

    def _path_page(self, talk: Talk, limit: int, before: str | None) -> MessagePage:
        """`before`: the page ends just above it on its own branch (a message of another
        branch pages back through that branch)."""
        if before is None and talk.current_leaf_id is None and talk.last_seq == 0:
            return MessagePage([], False)
        nodes = self._path_nodes(talk, before, "before", need=limit + 1,
                                 exclusive=before is not None)
        return MessagePage(self._messages(talk.id, nodes[-limit:]), len(nodes) > limit)

    def path(self, talk: Talk, leaf_id: str | None = None) -> list[Message]:
        if leaf_id is None and talk.current_leaf_id is None and talk.last_seq == 0:
            return []
        return self._messages(talk.id, self._path_nodes(talk, leaf_id, "message_id"))

    def history(self, talk: Talk, up_to: str | None, limit: int) -> list[Message]:
        if up_to is None and talk.current_leaf_id is None and talk.last_seq == 0:
            return []
        in_context = set(ON_PATH_CONTEXT)
        nodes = self._path_nodes(talk, up_to, "up_to", need=limit)
        return self._messages(talk.id, [node for node in nodes if node.status in in_context])

    def link_line(self, talk_id: str) -> str | None:
        """Links a talk stored before trees into one line (as data/migrations/0002 does) and
        makes its newest message current; returns the current leaf's id."""
        oid = maybe_object_id(talk_id)
        if oid is None:
            return None
        nodes = self.nodes(talk_id)
        before = {node.id: node.parent_id for node in nodes}
        linked = implied_parents(nodes)
        for node in linked:
            if node.parent_id != before[node.id]:
                self.collection.update_one(
                    {"_id": ObjectId(node.id), "parent_id": ref(before[node.id])},
                    {"$set": {"parent_id": ref(node.parent_id)}})
        leaf = linked[-1].id if linked else None
        if leaf is not None:
            self.talks.update_one({"_id": oid, "current_leaf_id": None},
                                  {"$set": {"current_leaf_id": ObjectId(leaf)}})
        doc = self.talks.find_one({"_id": oid}, {"current_leaf_id": True}) or {}
        return text(doc.get("current_leaf_id"))

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
