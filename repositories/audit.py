from __future__ import annotations

from datetime import datetime

from pymongo import ASCENDING, DESCENDING

from entities.clock import utcnow
from entities.pagination import Page, PageRequest
from repositories.mongo import MongoRepository, paginate, ref, text
from use_cases.shared.ports import AuditLog

REFERENCES = ("actor_id", "target_id", "workspace_id")


def to_entry(doc: dict) -> dict:
    entry = {key: value for key, value in doc.items() if key != "_id"}
    entry["id"] = str(doc["_id"])
    for name in REFERENCES:
        if name in entry:
            entry[name] = text(entry[name])
    return entry


class MongoAuditLog(MongoRepository, AuditLog):
    collection_name = "audit_log"
    indexes = [
        ([("at", DESCENDING)], {"name": "at"}),
        ([("actor_id", ASCENDING), ("at", DESCENDING)], {"name": "actor_at"}),
        ([("action", ASCENDING), ("at", DESCENDING)], {"name": "action_at"}),
    ]

    def record(self, action, actor_id, target_type=None, target_id=None, workspace_id=None,
               ip=None, details=None) -> None:
        self.collection.insert_one({
            "action": action, "actor_id": ref(actor_id), "target_type": target_type,
            # a document's id as ObjectId; a provider key's target is its provider's name
            "target_id": ref(target_id), "workspace_id": ref(workspace_id), "ip": ip,
            "details": details or {}, "at": utcnow(),
        })

    def search(self, actor: str | None, action: str | None, since: datetime | None,
               until: datetime | None, page: PageRequest) -> Page[dict]:
        query: dict = {}
        if actor:
            query["actor_id"] = ref(actor)
        if action:
            query["action"] = action
        if since or until:
            query["at"] = {k: v for k, v in (("$gte", since), ("$lt", until)) if v}
        return paginate(self.collection, query, page, [("at", DESCENDING)], to_entry)
