from __future__ import annotations

from datetime import datetime

from pymongo import ASCENDING, ReturnDocument

from entities.clock import utcnow
from repositories.mongo import MongoRepository, ref, text
from use_cases.identity.ports import OneTimeTokenRepository


class MongoOneTimeTokenRepository(MongoRepository, OneTimeTokenRepository):
    """Hashes of mailed tokens. Spent tokens stay until the TTL index removes them at expiry."""

    collection_name = "one_time_tokens"
    indexes = [
        ([("token_hash", ASCENDING)], {"unique": True, "name": "token_hash_unique"}),
        ([("user_id", ASCENDING), ("purpose", ASCENDING)], {"name": "user_purpose"}),
        ([("expires_at", ASCENDING)], {"expireAfterSeconds": 0, "name": "ttl"}),
    ]

    def add(self, purpose: str, token_hash: str, user_id: str, expires_at: datetime) -> None:
        self.collection.insert_one({
            "purpose": purpose, "token_hash": token_hash, "user_id": ref(user_id),
            "expires_at": expires_at, "used_at": None, "created_at": utcnow(),
        })

    def _valid(self, purpose: str, token_hash: str) -> dict:
        return {"token_hash": token_hash, "purpose": purpose, "used_at": None,
                "expires_at": {"$gt": utcnow()}}

    def find_valid(self, purpose: str, token_hash: str) -> str | None:
        doc = self.collection.find_one(self._valid(purpose, token_hash), {"user_id": 1})
        return text(doc["user_id"]) if doc else None

    def consume(self, purpose: str, token_hash: str) -> str | None:
        doc = self.collection.find_one_and_update(
            self._valid(purpose, token_hash), {"$set": {"used_at": utcnow()}},
            projection={"user_id": 1}, return_document=ReturnDocument.AFTER)
        return text(doc["user_id"]) if doc else None

    def discard_all(self, user_id: str, purpose: str) -> None:
        self.collection.update_many({"user_id": ref(user_id), "purpose": purpose, "used_at": None},
                                    {"$set": {"used_at": utcnow()}})
