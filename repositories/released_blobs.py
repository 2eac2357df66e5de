"""Blobs released by `flask move-files` (their versions point at a copy now), waiting out the
grace period before their deletion: one document per blob, keyed by its id."""
from __future__ import annotations

from datetime import datetime

from pymongo import ASCENDING

from repositories.mongo import MongoRepository
from use_cases.files.ports import ReleasedBlobs


class MongoReleasedBlobs(MongoRepository, ReleasedBlobs):
    collection_name = "released_blobs"
    indexes = [([("released_at", ASCENDING)], {"name": "released_at"})]

    def add(self, blob_id: str, released_at: datetime) -> None:
        self.collection.update_one({"_id": blob_id}, {"$setOnInsert": {"released_at": released_at}},
                                   upsert=True)

    def due(self, cutoff: datetime, limit: int) -> list[str]:
        cursor = self.collection.find({"released_at": {"$lte": cutoff}}, {"_id": 1}).sort(
            [("released_at", ASCENDING), ("_id", ASCENDING)]).limit(limit)
        return [doc["_id"] for doc in cursor]

    def forget(self, blob_id: str) -> None:
        self.collection.delete_one({"_id": blob_id})
