"""Conversations as trees (issue 20): every message has a `parent_id` and every talk a
`current_leaf_id`.

Before this version only assistant replies had a parent (their user message); a talk's history
was its messages in order. Upgrading links each user message without a parent (but a talk's
first) to the message stored just before it (by `created_at`, then `seq`, then `_id`), and
makes each talk's newest message its current leaf: every talk reads as the one line it was, and
replies keep their user message (so a regenerated reply's old sibling stays a sibling). A
message whose parent is not a message of its talk (gone, or another talk's) is linked the same
way (a first message: made a root), so the line is not cut there.

A talk is done when it has a `current_leaf_id` field (null for a talk without messages); it is
set last, so a run interrupted and started again, or two runs at once, finish the same talks the
same way. Downgrading removes `current_leaf_id` (the previous version reads user messages'
parents as unused data; edited messages then read as later messages of one line).

The rules are written out here rather than imported from the repositories: a migration keeps
doing what it did when later versions change the code.
"""
from __future__ import annotations

import logging
from itertools import pairwise

from pymongo.database import Database

name = "0002_message_trees"
dependencies: list[str] = ["0001_references_as_object_ids"]

log = logging.getLogger("data.migrations.message_trees")
NODE_FIELDS = {"parent_id": True, "role": True, "created_at": True, "seq": True}


def _order(doc: dict) -> tuple:
    created = doc.get("created_at")
    return (created.timestamp() if created is not None else 0.0, doc.get("seq", 0),
            str(doc["_id"]))


def link_talk(db: Database, talk_id) -> int:
    """Links one talk's messages into a line and sets its current leaf; messages linked."""
    docs = sorted(db.messages.find({"talk_id": talk_id}, NODE_FIELDS), key=_order)
    ids = {doc["_id"] for doc in docs}
    linked = 0
    for before, doc in pairwise([None, *docs]):
        parent = doc.get("parent_id")
        orphan = parent is not None and parent not in ids  # its parent gone or elsewhere
        if orphan or (parent is None and doc.get("role") == "user" and before is not None):
            result = db.messages.update_one(
                {"_id": doc["_id"], "parent_id": parent},
                {"$set": {"parent_id": before["_id"] if before is not None else None}})
            linked += result.modified_count
    db.talks.update_one({"_id": talk_id, "current_leaf_id": {"$exists": False}},
                        {"$set": {"current_leaf_id": docs[-1]["_id"] if docs else None}})
    return linked


def upgrade(db: Database) -> None:
    talks = messages = 0
    for talk in db.talks.find({"current_leaf_id": {"$exists": False}}, {"_id": True}):
        messages += link_talk(db, talk["_id"])
        talks += 1
    log.info("message trees: %d talk(s) given a current leaf, %d message(s) linked",
             talks, messages)


def downgrade(db: Database) -> None:
    result = db.talks.update_many({"current_leaf_id": {"$exists": True}},
                                  {"$unset": {"current_leaf_id": ""}})
    log.info("message trees: current leaf removed from %d talk(s)", result.modified_count)
