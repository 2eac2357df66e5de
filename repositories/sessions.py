from __future__ import annotations

from collections.abc import Iterable

from bson import ObjectId
from pymongo import ASCENDING

from entities.clock import utcnow
from entities.session import LoginSession
from repositories.mongo import MongoRepository, maybe_object_id, ref, text
from use_cases.identity.ports import SessionRepository


def to_session(doc: dict) -> LoginSession:
    return LoginSession(
        id=str(doc["_id"]), user_id=text(doc["user_id"]), refresh_jti=doc["refresh_jti"],
        expires_at=doc["expires_at"], created_at=doc.get("created_at"),
        last_used_at=doc.get("last_used_at"), user_agent=doc.get("user_agent"),
        ip=doc.get("ip"), revoked_at=doc.get("revoked_at"),
    )


class MongoSessionRepository(MongoRepository, SessionRepository):
    """Login sessions double as the revocation list: a token is valid only while its session
    is live. Expired sessions disappear through the TTL index."""

    collection_name = "sessions"
    indexes = [
        ([("expires_at", ASCENDING)], {"expireAfterSeconds": 0, "name": "ttl"}),
        ([("user_id", ASCENDING), ("revoked_at", ASCENDING)], {"name": "user_live"}),
    ]

    def add(self, session: LoginSession) -> LoginSession:
        doc = {
            "_id": ObjectId(), "user_id": ref(session.user_id), "refresh_jti": session.refresh_jti,
            "expires_at": session.expires_at, "created_at": session.created_at,
            "last_used_at": session.last_used_at, "user_agent": session.user_agent,
            "ip": session.ip, "revoked_at": None,
        }
        self.collection.insert_one(doc)
        return to_session(doc)

    def _live(self, session_id: str) -> dict | None:
        oid = maybe_object_id(session_id)
        if oid is None:
            return None
        return {"_id": oid, "revoked_at": None, "expires_at": {"$gt": utcnow()}}

    def get(self, session_id: str) -> LoginSession | None:
        oid = maybe_object_id(session_id)
        doc = self.collection.find_one({"_id": oid}) if oid else None
        return to_session(doc) if doc else None

    def is_active(self, session_id: str, user_id: str | None = None) -> bool:
        query = self._live(session_id)
        if query and user_id is not None:
            query["user_id"] = ref(user_id)
        return bool(query) and self.collection.find_one(query, {"_id": 1}) is not None

    def live_among(self, session_ids: Iterable[str]) -> set[str]:
        oids = [oid for oid in map(maybe_object_id, session_ids) if oid is not None]
        if not oids:
            return set()
        query = {"_id": {"$in": oids}, "revoked_at": None, "expires_at": {"$gt": utcnow()}}
        return {str(doc["_id"]) for doc in self.collection.find(query, {"_id": 1})}

    def rotate(self, session_id: str, presented_jti: str, new_jti: str) -> bool:
        query = self._live(session_id)
        if not query:
            return False
        result = self.collection.update_one(
            {**query, "refresh_jti": presented_jti},
            {"$set": {"refresh_jti": new_jti, "last_used_at": utcnow()}})
        return result.modified_count == 1

    def revoke(self, session_id: str) -> None:
        oid = maybe_object_id(session_id)
        if oid:
            self.collection.update_one({"_id": oid, "revoked_at": None},
                                       {"$set": {"revoked_at": utcnow()}})

    def revoke_all(self, user_id: str, except_session: str | None = None) -> None:
        query: dict = {"user_id": ref(user_id), "revoked_at": None}
        keep = maybe_object_id(except_session)
        if keep:
            query["_id"] = {"$ne": keep}
        self.collection.update_many(query, {"$set": {"revoked_at": utcnow()}})

    def list_active(self, user_id: str) -> list[LoginSession]:
        query = {"user_id": ref(user_id), "revoked_at": None, "expires_at": {"$gt": utcnow()}}
        return [to_session(doc) for doc in self.collection.find(query).sort("created_at", -1)]
