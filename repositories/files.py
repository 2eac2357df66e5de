"""File metadata in MongoDB; each document embeds the list of its versions."""
from __future__ import annotations

import re
from dataclasses import asdict, fields
from datetime import datetime

from bson import ObjectId
from pymongo import ASCENDING, DESCENDING, ReturnDocument

from entities.clock import utcnow
from entities.file import File, FileQuery, FileVersion
from entities.pagination import Page, PageRequest
from repositories.mongo import MongoRepository, maybe_object_id, paginate, ref, text
from use_cases.files.ports import FileRepository

CURRENT_FIELDS = ("filename", "content_type", "size", "sha256")


def to_version(doc: dict) -> FileVersion:
    values: dict = {f.name: doc.get(f.name) for f in fields(FileVersion)}
    values["uploaded_by"] = text(values["uploaded_by"])
    return FileVersion(**values)


def version_to_doc(version: FileVersion) -> dict:
    """The blob id stays a string: a GridFS ObjectId's hex or an "s3:..." key."""
    doc = asdict(version)
    doc["uploaded_by"] = ref(version.uploaded_by)
    return doc


def to_file(doc: dict) -> File:
    return File(
        id=str(doc["_id"]), workspace_id=text(doc["workspace_id"]), owner_id=text(doc["owner_id"]),
        filename=doc["filename"], content_type=doc["content_type"], size=doc["size"],
        sha256=doc["sha256"], version=doc["version"],
        versions=[to_version(v) for v in doc.get("versions", [])],
        category=doc.get("category"), tags=doc.get("tags", []),
        description=doc.get("description", ""), is_public=doc.get("is_public", False),
        deleted_at=doc.get("deleted_at"), created_at=doc.get("created_at"),
        updated_at=doc.get("updated_at"),
    )


class MongoFileRepository(MongoRepository, FileRepository):
    collection_name = "files"
    indexes = [
        ([("workspace_id", ASCENDING), ("deleted_at", ASCENDING), ("created_at", DESCENDING)],
         {"name": "workspace_live_newest"}),
        ([("workspace_id", ASCENDING), ("tags", ASCENDING)], {"name": "workspace_tags"}),
        ([("deleted_at", ASCENDING)], {"name": "deleted_at"}),
    ]

    def add(self, file: File) -> File:
        doc = asdict(file)
        doc.pop("id")
        doc.update(workspace_id=ref(file.workspace_id), owner_id=ref(file.owner_id),
                   versions=[version_to_doc(version) for version in file.versions])
        doc["_id"] = self.collection.insert_one(doc).inserted_id
        return to_file(doc)

    def get(self, file_id: str, include_deleted: bool = False) -> File | None:
        doc = self.find_by_id(file_id, include_deleted)
        return to_file(doc) if doc else None

    def search(self, query: FileQuery, page: PageRequest) -> Page[File]:
        mongo_query: dict = {"workspace_id": ref(query.workspace_id),
                             "deleted_at": {"$ne": None} if query.deleted else None}
        if query.category:
            mongo_query["category"] = query.category
        if query.tag:
            mongo_query["tags"] = query.tag
        if query.name_contains:
            mongo_query["filename"] = {"$regex": re.escape(query.name_contains), "$options": "i"}
        return paginate(self.collection, mongo_query, page,
                        [("created_at", DESCENDING), ("_id", DESCENDING)], to_file)

    def update(self, file_id: str, **changes) -> File | None:
        return self._update({"deleted_at": None}, file_id, {"$set": changes})

    def add_version(self, file_id: str, expected_version: int, version: FileVersion) -> File | None:
        current = {name: getattr(version, name) for name in CURRENT_FIELDS}
        return self._update({"deleted_at": None, "version": expected_version}, file_id, {
            "$push": {"versions": version_to_doc(version)},
            "$set": {**current, "version": version.number},
        })

    def set_deleted(self, file_id: str, deleted_at: datetime | None) -> File | None:
        return self._update({}, file_id, {"$set": {"deleted_at": deleted_at}})

    def deleted_before(self, cutoff: datetime, limit: int) -> list[File]:
        cursor = self.collection.find({"deleted_at": {"$ne": None, "$lte": cutoff}}).limit(limit)
        return [to_file(doc) for doc in cursor]

    def remove(self, file_id: str) -> File | None:
        oid = maybe_object_id(file_id)
        if oid is None:
            return None
        doc = self.collection.find_one_and_delete({"_id": oid, "deleted_at": {"$ne": None}})
        return to_file(doc) if doc else None

    def every_file(self, after_id: str | None, limit: int) -> list[File]:
        query: dict = {}
        if after_id is not None:
            query["_id"] = {"$gt": ObjectId(after_id)}  # ids this method returned
        cursor = self.collection.find(query).sort("_id", ASCENDING).limit(limit)
        return [to_file(doc) for doc in cursor]

    def replace_blob(self, file_id: str, number: int, old_blob_id: str, new_blob_id: str) -> bool:
        oid = maybe_object_id(file_id)
        if oid is None:
            return False
        # the positional $ updates the element $elemMatch found: that version, if unchanged
        result = self.collection.update_one(
            {"_id": oid, "versions": {"$elemMatch": {"number": number, "blob_id": old_blob_id}}},
            {"$set": {"versions.$.blob_id": new_blob_id}})
        return result.modified_count == 1

    def _update(self, condition: dict, file_id: str, update: dict) -> File | None:
        oid = maybe_object_id(file_id)
        if oid is None:
            return None
        update.setdefault("$set", {})["updated_at"] = utcnow()
        doc = self.collection.find_one_and_update({"_id": oid, **condition}, update,
                                                  return_document=ReturnDocument.AFTER)
        return to_file(doc) if doc else None
