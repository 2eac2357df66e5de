"""Share links in MongoDB (`shares`): each holds its snapshot, so a share reads in one lookup
by its `_id` (a random URL-safe token, not an ObjectId: the link is the only key to it)."""
from __future__ import annotations

import secrets

from pymongo import ASCENDING, DESCENDING

from entities.clock import utcnow
from entities.share import Share, SharedMessage
from repositories.mongo import MongoRepository, ref, text
from use_cases.chat.ports import ShareRepository

TOKEN_BYTES = 16  # 128 random bits


def to_share(doc: dict) -> Share:
    return Share(
        id=doc["_id"], talk_id=text(doc["talk_id"]), user_id=text(doc["user_id"]),
        workspace_id=text(doc["workspace_id"]), title=doc.get("title", ""),
        messages=[SharedMessage(role=m["role"], content=m.get("content", ""),
                                created_at=m.get("created_at"), model=m.get("model"))
                  for m in doc.get("messages", [])],
        created_at=doc.get("created_at"), expires_at=doc.get("expires_at"),
        revoked_at=doc.get("revoked_at"))


class MongoShareRepository(MongoRepository, ShareRepository):
    collection_name = "shares"
    indexes = [
        ([("talk_id", ASCENDING), ("user_id", ASCENDING), ("revoked_at", ASCENDING),
          ("created_at", DESCENDING)], {"name": "talk_shares"}),
    ]

    def new_id(self) -> str:
        return secrets.token_urlsafe(TOKEN_BYTES)

    def add(self, share: Share) -> Share:
        doc = {
            "_id": share.id or self.new_id(), "talk_id": ref(share.talk_id),
            "user_id": ref(share.user_id), "workspace_id": ref(share.workspace_id),
            "title": share.title,
            "messages": [{"role": m.role, "content": m.content, "created_at": m.created_at,
                          "model": m.model} for m in share.messages],
            "created_at": share.created_at or utcnow(), "expires_at": share.expires_at,
            "revoked_at": None,
        }
        self.collection.insert_one(doc)
        return to_share(doc)

    def get(self, share_id: str) -> Share | None:
        if not isinstance(share_id, str) or not share_id:
            return None
        doc = self.collection.find_one({"_id": share_id})
        return to_share(doc) if doc else None

    def list_for_talk(self, talk_id: str, user_id: str) -> list[Share]:
        cursor = self.collection.find(
            {"talk_id": ref(talk_id), "user_id": ref(user_id), "revoked_at": None},
            {"messages": False}).sort("created_at", DESCENDING)
        return [to_share(doc) for doc in cursor]

    def revoke(self, share_id: str, user_id: str) -> bool:
        result = self.collection.update_one(
            {"_id": share_id, "user_id": ref(user_id), "revoked_at": None},
            {"$set": {"revoked_at": utcnow()}})
        return result.modified_count == 1
