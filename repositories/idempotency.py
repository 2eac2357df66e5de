"""Records of idempotent requests in MongoDB (`idempotency_keys`).

One document per (user, route, key), held by a unique index: of concurrent claims of a key one
insert wins, the others read the holder. A TTL index forgets a record at `expires_at` (the
monitor runs about once a minute; a claim treats a record past it as gone already). References
are ObjectIds (`user_id`, and the stored documents a streamed answer names in `refs`); the
answer's body is kept as JSON text, since a body's keys may be anything (`$` or `.`).
"""
from __future__ import annotations

import json
from datetime import datetime

from pymongo import ASCENDING, ReturnDocument
from pymongo.errors import DuplicateKeyError

from entities.idempotency import IdempotencyRecord, StoredResponse
from repositories.mongo import MongoRepository, ref, text
from use_cases.shared.ports import IdempotencyRepository


def _response(doc: dict) -> StoredResponse | None:
    if doc.get("state") != "finished":
        return None
    return StoredResponse(status=int(doc["status"]), body=json.loads(doc.get("body") or "null"),
                          kind=doc.get("kind", "json"),
                          refs={name: str(value) for name, value in (doc.get("refs") or {}).items()},
                          headers=dict(doc.get("headers") or {}))


def to_record(doc: dict) -> IdempotencyRecord:
    return IdempotencyRecord(
        user_id=text(doc["user_id"]), route=doc["route"], key=doc["key"],
        fingerprint=doc["fingerprint"], claim_id=doc["claim_id"], lease_until=doc["lease_until"],
        expires_at=doc["expires_at"], response=_response(doc), created_at=doc.get("created_at"))


class MongoIdempotencyRepository(MongoRepository, IdempotencyRepository):
    collection_name = "idempotency_keys"
    indexes = [
        ([("user_id", ASCENDING), ("route", ASCENDING), ("key", ASCENDING)],
         {"unique": True, "name": "user_route_key_unique"}),
        ([("expires_at", ASCENDING)], {"expireAfterSeconds": 0, "name": "ttl"}),
    ]

    @staticmethod
    def _id(record: IdempotencyRecord) -> dict:
        return {"user_id": ref(record.user_id), "route": record.route, "key": record.key}

    def _fields(self, record: IdempotencyRecord) -> dict:
        return {"fingerprint": record.fingerprint, "claim_id": record.claim_id,
                "state": "running", "status": None, "body": None, "kind": None, "refs": None,
                "headers": None,
                "lease_until": record.lease_until, "expires_at": record.expires_at,
                "created_at": record.created_at}

    def claim(self, record: IdempotencyRecord, now: datetime) -> IdempotencyRecord | None:
        try:
            self.collection.insert_one({**self._id(record), **self._fields(record)})
            return None
        except DuplicateKeyError:
            pass
        taken = self.collection.find_one_and_update(
            {**self._id(record), "$or": [
                {"state": "running", "lease_until": {"$lte": now}},
                {"expires_at": {"$lte": now}}]},
            {"$set": self._fields(record)}, projection={"_id": True})
        if taken is not None:
            return None
        holder = self.collection.find_one(self._id(record))
        if holder is None:  # forgotten between the insert and the read: claim again
            return self.claim(record, now)
        return to_record(holder)

    def finish(self, record: IdempotencyRecord, response: StoredResponse) -> bool:
        done = self.collection.find_one_and_update(
            {**self._id(record), "claim_id": record.claim_id},
            {"$set": {"state": "finished", "status": response.status,
                      "body": json.dumps(response.body, default=str), "kind": response.kind,
                      "refs": {name: ref(value) for name, value in response.refs.items()},
                      "headers": dict(response.headers)}},
            projection={"_id": True}, return_document=ReturnDocument.AFTER)
        return done is not None

    def release(self, record: IdempotencyRecord) -> None:
        self.collection.delete_one({**self._id(record), "claim_id": record.claim_id,
                                    "state": "running"})
