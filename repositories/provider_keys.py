from __future__ import annotations

from pymongo import ASCENDING, ReturnDocument

from entities.clock import utcnow
from entities.provider_key import StoredProviderKey
from repositories.mongo import MongoRepository, ref, text
from use_cases.gateway.ports import ProviderKeyRepository


def to_key(doc: dict) -> StoredProviderKey:
    return StoredProviderKey(
        workspace_id=text(doc["workspace_id"]), provider=doc["provider"],
        encrypted_key=doc["encrypted_key"], key_hint=doc.get("key_hint"),
        api_base=doc.get("api_base"), updated_at=doc.get("updated_at"),
        updated_by=text(doc.get("updated_by")),
    )


class MongoProviderKeyRepository(MongoRepository, ProviderKeyRepository):
    collection_name = "provider_keys"
    indexes = [
        ([("workspace_id", ASCENDING), ("provider", ASCENDING)],
         {"unique": True, "name": "one_key_per_provider"}),
    ]

    def put(self, key: StoredProviderKey) -> StoredProviderKey:
        doc = self.collection.find_one_and_update(
            {"workspace_id": ref(key.workspace_id), "provider": key.provider},
            {"$set": {"encrypted_key": key.encrypted_key, "key_hint": key.key_hint,
                      "api_base": key.api_base, "updated_at": key.updated_at or utcnow(),
                      "updated_by": ref(key.updated_by)},
             "$setOnInsert": {"created_at": utcnow()}},
            upsert=True, return_document=ReturnDocument.AFTER)
        assert doc is not None, "an upsert returns the document"
        return to_key(doc)

    def list(self, workspace_id: str) -> list[StoredProviderKey]:
        cursor = self.collection.find({"workspace_id": ref(workspace_id)}).sort("provider", ASCENDING)
        return [to_key(doc) for doc in cursor]

    def delete(self, workspace_id: str, provider: str) -> bool:
        result = self.collection.delete_one({"workspace_id": ref(workspace_id), "provider": provider})
        return result.deleted_count == 1
