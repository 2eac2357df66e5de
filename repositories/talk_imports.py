"""Imported talks written whole, and the import and export jobs, in MongoDB.

`MongoTalkArchive` writes into the `talks` and `messages` collections of repositories/talks.py,
in their document layout: the messages first (numbered `seq` 1..n in the order given, parents
first), then the talk, whose insert is the commit point — the unique `talk_source` index makes a
second import of the same conversation fail there, and its messages are then removed. A process
that dies between the two leaves messages no talk points at (never shown, never counted).

Jobs: `imports` (counters, lease) and `import_items` (the report, one document per
conversation, in order), `talk_exports`. A running job's `lease_until` is moved forward as it
progresses; `fail_abandoned` fails one whose lease has expired.
"""
from __future__ import annotations

from datetime import datetime

from bson import ObjectId
from pymongo import ASCENDING, DESCENDING, InsertOne
from pymongo.errors import DuplicateKeyError, OperationFailure

from entities.clock import utcnow
from entities.talk import Message, Talk
from entities.talk_import import ExportJob, ImportItem, ImportJob, ItemStatus, JobStatus
from repositories.mongo import MongoRepository, maybe_object_id, ref, text
from repositories.talks import (
    SOURCE_INDEX,
    MongoMessageRepository,
    MongoTalkRepository,
    message_document,
)
from use_cases.imports.ports import ExportJobRepository, ImportJobRepository, TalkArchive

MESSAGE_BATCH = 1000


class MongoTalkArchive(MongoRepository, TalkArchive):
    collection_name = MongoTalkRepository.collection_name  # indexes: repositories/talks.py

    def __init__(self, db):
        super().__init__(db)
        self.messages = db[MongoMessageRepository.collection_name]

    def new_id(self) -> str:
        return str(ObjectId())

    def has_source(self, user_id: str, fmt: str, source_id: str) -> str | None:
        """One indexed look-up: the query names `talk_source` (a partial index, which some
        servers, like the embedded development one, would not choose and scan every talk
        instead); every talk this query can match is in that index."""
        query = {"user_id": ref(user_id), "source.format": fmt, "source.id": source_id}
        try:
            docs = list(self.collection.find(query, {"_id": True}).hint(SOURCE_INDEX).limit(1))
        except OperationFailure:  # the index is not there (yet): the same answer, slower
            docs = list(self.collection.find(query, {"_id": True}).limit(1))
        return str(docs[0]["_id"]) if docs else None

    def add_whole(self, talk: Talk, messages: list[Message]) -> str | None:
        for start in range(0, len(messages), MESSAGE_BATCH):
            batch = messages[start:start + MESSAGE_BATCH]
            self.messages.insert_many(
                [message_document(m, start + i + 1) for i, m in enumerate(batch)], ordered=False)
        now = utcnow()
        doc = {
            "_id": ObjectId(talk.id), "user_id": ref(talk.user_id),
            "workspace_id": ref(talk.workspace_id), "name": talk.name, "model": talk.model,
            "system_prompt": talk.system_prompt, "tags": list(talk.tags),
            "archived": talk.archived, "pinned": talk.pinned,
            "message_count": talk.message_count, "last_seq": talk.last_seq,
            "last_message_at": talk.last_message_at or talk.created_at or now,
            "deleted": False, "deleted_at": None, "created_at": talk.created_at or now,
            "updated_at": talk.updated_at or talk.created_at or now,
            "current_leaf_id": ref(talk.current_leaf_id),
        }
        if talk.source is not None:
            doc["source"] = {"format": talk.source.format, "id": talk.source.id}
        try:
            self.collection.insert_one(doc)
        except DuplicateKeyError:
            self.messages.delete_many({"talk_id": ObjectId(talk.id)})
            return None
        return talk.id


def _import_job(doc: dict) -> ImportJob:
    return ImportJob(
        id=str(doc["_id"]), user_id=text(doc["user_id"]), workspace_id=text(doc["workspace_id"]),
        format=doc.get("format"), filename=doc.get("filename", ""),
        status=JobStatus(doc["status"]), total=doc.get("total", 0),
        imported=doc.get("imported", 0), skipped=doc.get("skipped", 0),
        failed=doc.get("failed", 0), error=doc.get("error"), created_at=doc.get("created_at"),
        finished_at=doc.get("finished_at"))


def _fail_abandoned(collection, job_id: str, now: datetime, reason: str) -> bool:
    oid = maybe_object_id(job_id)
    if oid is None:
        return False
    result = collection.update_one(
        {"_id": oid, "status": JobStatus.RUNNING.value, "lease_until": {"$lt": now}},
        {"$set": {"status": JobStatus.FAILED.value, "error": reason, "finished_at": now}})
    return result.modified_count == 1


class MongoImportJobs(MongoRepository, ImportJobRepository):
    collection_name = "imports"
    indexes = [([("user_id", ASCENDING), ("created_at", DESCENDING)], {"name": "user_imports"})]

    def __init__(self, db):
        super().__init__(db)
        self.item_collection = db["import_items"]

    def ensure_indexes(self) -> None:
        super().ensure_indexes()
        self.item_collection.create_index([("import_id", ASCENDING), ("n", ASCENDING)],
                                          name="import_report")

    def add(self, job: ImportJob, worker_id: str, lease_until: datetime) -> ImportJob:
        now = utcnow()
        doc = {"user_id": ref(job.user_id), "workspace_id": ref(job.workspace_id),
               "format": job.format, "filename": job.filename, "status": job.status.value,
               "total": 0, "imported": 0, "skipped": 0, "failed": 0, "error": None,
               "worker_id": worker_id, "lease_until": lease_until, "created_at": now,
               "finished_at": None}
        doc["_id"] = self.collection.insert_one(doc).inserted_id
        return _import_job(doc)

    def get(self, job_id: str, user_id: str) -> ImportJob | None:
        oid = maybe_object_id(job_id)
        doc = self.collection.find_one({"_id": oid, "user_id": ref(user_id)}) if oid else None
        return _import_job(doc) if doc else None

    def items(self, job_id: str, status: ItemStatus | None = None, start: int = 0,
              limit: int | None = None) -> list[ImportItem]:
        query: dict = {"import_id": ref(job_id), "n": {"$gte": start}}
        if status is not None:
            query["status"] = status.value
        cursor = self.item_collection.find(query).sort("n", ASCENDING)
        if limit is not None:
            cursor = cursor.limit(limit)
        return [ImportItem(source_id=doc["source_id"], status=ItemStatus(doc["status"]),
                           talk_id=text(doc.get("talk_id")), error=doc.get("error"),
                           title=doc.get("title"), position=doc["n"]) for doc in cursor]

    def progress(self, job: ImportJob, items: list[ImportItem], lease_until: datetime) -> None:
        if items:
            first = job.total - len(items)
            self.item_collection.bulk_write([InsertOne({
                "import_id": ref(job.id), "n": first + i, "source_id": item.source_id,
                "status": item.status.value, "talk_id": ref(item.talk_id), "error": item.error,
                "title": item.title}) for i, item in enumerate(items)], ordered=False)
        self.collection.update_one({"_id": ObjectId(job.id)}, {"$set": {
            "total": job.total, "imported": job.imported, "skipped": job.skipped,
            "failed": job.failed, "lease_until": lease_until}})

    def finish(self, job: ImportJob, status: JobStatus, error: str | None) -> None:
        self.collection.update_one({"_id": ObjectId(job.id)}, {"$set": {
            "status": status.value, "error": error, "total": job.total,
            "imported": job.imported, "skipped": job.skipped, "failed": job.failed,
            "finished_at": utcnow()}})

    def fail_abandoned(self, job_id: str, now: datetime, reason: str) -> bool:
        return _fail_abandoned(self.collection, job_id, now, reason)


def _export_job(doc: dict) -> ExportJob:
    return ExportJob(
        id=str(doc["_id"]), user_id=text(doc["user_id"]),
        workspace_id=text(doc.get("workspace_id")), status=JobStatus(doc["status"]),
        total=doc.get("total", 0), exported=doc.get("exported", 0), blob_id=doc.get("blob_id"),
        size=doc.get("size"), error=doc.get("error"), created_at=doc.get("created_at"),
        finished_at=doc.get("finished_at"))


class MongoExportJobs(MongoRepository, ExportJobRepository):
    collection_name = "talk_exports"
    indexes = [([("user_id", ASCENDING), ("created_at", DESCENDING)], {"name": "user_exports"})]

    def add(self, job: ExportJob, lease_until: datetime) -> ExportJob:
        now = utcnow()
        doc = {"user_id": ref(job.user_id), "workspace_id": ref(job.workspace_id),
               "status": job.status.value, "total": 0, "exported": 0, "blob_id": None,
               "size": None, "error": None, "lease_until": lease_until, "created_at": now,
               "finished_at": None}
        doc["_id"] = self.collection.insert_one(doc).inserted_id
        return _export_job(doc)

    def get(self, job_id: str, user_id: str) -> ExportJob | None:
        oid = maybe_object_id(job_id)
        doc = self.collection.find_one({"_id": oid, "user_id": ref(user_id)}) if oid else None
        return _export_job(doc) if doc else None

    def get_any(self, job_id: str) -> ExportJob | None:
        oid = maybe_object_id(job_id)
        doc = self.collection.find_one({"_id": oid}) if oid else None
        return _export_job(doc) if doc else None

    def progress(self, job: ExportJob, lease_until: datetime) -> None:
        self.collection.update_one({"_id": ObjectId(job.id)}, {"$set": {
            "total": job.total, "exported": job.exported, "lease_until": lease_until}})

    def finish(self, job: ExportJob, status: JobStatus, error: str | None) -> None:
        self.collection.update_one({"_id": ObjectId(job.id)}, {"$set": {
            "status": status.value, "error": error, "total": job.total,
            "exported": job.exported, "blob_id": job.blob_id, "size": job.size,
            "finished_at": utcnow()}})

    def fail_abandoned(self, job_id: str, now: datetime, reason: str) -> bool:
        return _fail_abandoned(self.collection, job_id, now, reason)

    def previous_blobs(self, user_id: str, keep: str) -> list[str]:
        query = {"user_id": ref(user_id), "_id": {"$ne": ObjectId(keep)},
                 "blob_id": {"$ne": None}}
        blobs = [doc["blob_id"] for doc in self.collection.find(query, {"blob_id": True})]
        if blobs:
            self.collection.update_many(query, {"$set": {"blob_id": None}})
        return blobs
