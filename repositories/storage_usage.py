"""Bytes stored per workspace: one counter document each, changed only with atomic $inc."""
from __future__ import annotations

from pymongo.errors import DuplicateKeyError

from repositories.mongo import MongoRepository, ref
from use_cases.files.ports import StorageUsage


class MongoStorageUsage(MongoRepository, StorageUsage):
    collection_name = "storage_usage"
    indexes = []  # keyed by _id: the workspace's _id (an ObjectId)

    def used(self, workspace_id: str) -> int:
        doc = self.collection.find_one({"_id": ref(workspace_id)}, {"bytes": 1})
        return int(doc["bytes"]) if doc else 0

    def reserve(self, workspace_id: str, nbytes: int, quota: int) -> bool:
        if nbytes > quota:
            return False
        try:
            # Matches only while there is room; with no counter yet, the upsert creates it.
            # A counter without room makes the upsert collide on _id instead: no room.
            self.collection.update_one(
                {"_id": ref(workspace_id), "bytes": {"$lte": quota - nbytes}},
                {"$inc": {"bytes": nbytes}}, upsert=True)
        except DuplicateKeyError:
            return False
        return True

    def release(self, workspace_id: str, nbytes: int) -> None:
        if nbytes:
            self.collection.update_one({"_id": ref(workspace_id)}, {"$inc": {"bytes": -nbytes}})
