"""Workspace API keys (collection `api_keys`): found by the SHA-256 of their secret."""
from __future__ import annotations

from dataclasses import asdict, replace
from datetime import datetime

from pymongo import ASCENDING, DESCENDING, ReturnDocument

from entities.api_key import ApiKey
from repositories.mongo import MongoRepository, maybe_object_id, ref, text
from use_cases.gateway.ports import ApiKeyRepository


def to_api_key(doc: dict) -> ApiKey:
    return ApiKey(
        id=str(doc["_id"]), workspace_id=text(doc["workspace_id"]), name=doc["name"],
        key_hash=doc["key_hash"], key_hint=doc["key_hint"], created_by=text(doc["created_by"]),
        created_at=doc.get("created_at"), expires_at=doc.get("expires_at"),
        monthly_budget_usd=doc.get("monthly_budget_usd"), last_used_at=doc.get("last_used_at"),
        revoked_at=doc.get("revoked_at"))


class MongoApiKeyRepository(MongoRepository, ApiKeyRepository):
    collection_name = "api_keys"
    indexes = [
        ([("key_hash", ASCENDING)], {"name": "key_hash", "unique": True}),
        ([("workspace_id", ASCENDING), ("created_at", DESCENDING)], {"name": "workspace_created"}),
    ]

    def add(self, key: ApiKey) -> ApiKey:
        doc = asdict(key)
        doc.pop("id")
        doc.update(workspace_id=ref(key.workspace_id), created_by=ref(key.created_by))
        return replace(key, id=str(self.collection.insert_one(doc).inserted_id))

    def get(self, key_id: str) -> ApiKey | None:
        oid = maybe_object_id(key_id)
        doc = oid and self.collection.find_one({"_id": oid})
        return to_api_key(doc) if doc else None

    def list(self, workspace_id: str) -> list[ApiKey]:
        cursor = self.collection.find({"workspace_id": ref(workspace_id), "revoked_at": None}).sort(
            [("created_at", DESCENDING), ("_id", DESCENDING)])
        return [to_api_key(doc) for doc in cursor]

    def find_by_hash(self, key_hash: str, touch_at: datetime | None = None) -> ApiKey | None:
        doc = None
        if touch_at is not None:
            doc = self.collection.find_one_and_update(
                {"key_hash": key_hash, "revoked_at": None}, {"$set": {"last_used_at": touch_at}},
                return_document=ReturnDocument.AFTER)
        if doc is None:
            doc = self.collection.find_one({"key_hash": key_hash})
        return to_api_key(doc) if doc else None

    def revoke(self, workspace_id: str, key_id: str, at: datetime) -> ApiKey | None:
        oid = maybe_object_id(key_id)
        if oid is None:
            return None
        doc = self.collection.find_one_and_update(
            {"_id": oid, "workspace_id": ref(workspace_id), "revoked_at": None},
            {"$set": {"revoked_at": at}}, return_document=ReturnDocument.AFTER)
        return to_api_key(doc) if doc else None
