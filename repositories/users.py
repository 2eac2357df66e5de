from __future__ import annotations

import re

from pymongo import ASCENDING, DESCENDING, ReturnDocument
from pymongo.errors import DuplicateKeyError

from entities.clock import utcnow
from entities.errors import Conflict
from entities.pagination import Page, PageRequest
from entities.user import GlobalRole, User
from repositories.mongo import MongoRepository, maybe_object_id, paginate
from use_cases.identity.ports import UserRepository


def to_user(doc: dict) -> User:
    return User(
        id=str(doc["_id"]), email=doc["email"], name=doc.get("name", ""),
        password_hash=doc["password_hash"], role=GlobalRole(doc.get("role", "user")),
        is_active=doc.get("is_active", True), email_verified=doc.get("email_verified", False),
        created_at=doc.get("created_at"), updated_at=doc.get("updated_at"),
    )


class MongoUserRepository(MongoRepository, UserRepository):
    collection_name = "users"
    indexes = [
        ([("email", ASCENDING)], {"unique": True, "name": "email_unique"}),  # stored lower-case
        ([("created_at", DESCENDING)], {"name": "created_at"}),
    ]

    def add(self, user: User) -> User:
        doc = {
            "email": user.email, "name": user.name, "password_hash": user.password_hash,
            "role": user.role.value, "is_active": user.is_active,
            "email_verified": user.email_verified, "created_at": user.created_at,
            "updated_at": user.updated_at,
        }
        try:
            result = self.collection.insert_one(doc)
        except DuplicateKeyError:
            raise Conflict("An account with this e-mail already exists") from None
        doc["_id"] = result.inserted_id
        return to_user(doc)

    def get(self, user_id: str) -> User | None:
        oid = maybe_object_id(user_id)
        doc = self.collection.find_one({"_id": oid}) if oid else None
        return to_user(doc) if doc else None

    def get_by_email(self, email: str) -> User | None:
        doc = self.collection.find_one({"email": email})
        return to_user(doc) if doc else None

    def get_many(self, user_ids: list[str]) -> list[User]:
        oids = [oid for oid in map(maybe_object_id, user_ids) if oid]
        return [to_user(doc) for doc in self.collection.find({"_id": {"$in": oids}})]

    def update(self, user_id: str, **changes) -> User | None:
        oid = maybe_object_id(user_id)
        if oid is None:
            return None
        if isinstance(changes.get("role"), GlobalRole):
            changes["role"] = changes["role"].value
        doc = self.collection.find_one_and_update(
            {"_id": oid}, {"$set": {**changes, "updated_at": utcnow()}},
            return_document=ReturnDocument.AFTER)
        return to_user(doc) if doc else None

    def search(self, query: str | None, page: PageRequest) -> Page[User]:
        condition = {}
        if query:
            pattern = re.escape(query)
            condition = {"$or": [{"email": {"$regex": pattern, "$options": "i"}},
                                 {"name": {"$regex": pattern, "$options": "i"}}]}
        return paginate(self.collection, condition, page, [("created_at", DESCENDING)], to_user)
