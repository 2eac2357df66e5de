"""Webhooks and their delivery queue (`webhook_deliveries`, which doubles as the delivery log)."""
from __future__ import annotations

import builtins
from dataclasses import asdict
from datetime import datetime

from pymongo import ASCENDING, DESCENDING, ReturnDocument
from pymongo.errors import BulkWriteError

from entities.pagination import Page, PageRequest
from entities.webhook import Delivery, DeliveryAttempt, DeliveryStatus, Webhook
from repositories.mongo import MongoRepository, maybe_object_id, paginate, ref, text
from use_cases.webhooks.ports import DeliveryRepository, WebhookRepository

DELIVERY_LOG_RETENTION_S = 30 * 24 * 3600
DUPLICATE_KEY = 11000


def to_webhook(doc: dict) -> Webhook:
    return Webhook(id=str(doc["_id"]), workspace_id=text(doc["workspace_id"]), url=doc["url"],
                   events=list(doc.get("events", [])), encrypted_secret=doc["encrypted_secret"],
                   created_by=text(doc.get("created_by")) or "", created_at=doc.get("created_at"))


def to_delivery(doc: dict) -> Delivery:
    return Delivery(
        id=str(doc["_id"]), webhook_id=text(doc["webhook_id"]), workspace_id=text(doc["workspace_id"]),
        event=doc["event"], event_id=doc["event_id"], body=doc["body"],
        status=DeliveryStatus(doc["status"]), attempts=doc.get("attempts", 0),
        next_attempt_at=doc.get("next_attempt_at"), status_code=doc.get("status_code"),
        error=doc.get("error"), delivered_at=doc.get("delivered_at"),
        created_at=doc.get("created_at"),
        log=[DeliveryAttempt(**entry) for entry in doc.get("log", [])])


class MongoWebhookRepository(MongoRepository, WebhookRepository):
    collection_name = "webhooks"
    indexes = [([("workspace_id", ASCENDING), ("events", ASCENDING)], {"name": "workspace_events"})]

    def add(self, webhook: Webhook) -> Webhook:
        doc = asdict(webhook)
        doc.pop("id")
        doc.update(workspace_id=ref(webhook.workspace_id), created_by=ref(webhook.created_by))
        webhook.id = str(self.collection.insert_one(doc).inserted_id)
        return webhook

    def get(self, workspace_id: str, webhook_id: str) -> Webhook | None:
        oid = maybe_object_id(webhook_id)
        doc = oid and self.collection.find_one({"_id": oid, "workspace_id": ref(workspace_id)})
        return to_webhook(doc) if doc else None

    def list(self, workspace_id: str) -> list[Webhook]:
        cursor = self.collection.find({"workspace_id": ref(workspace_id)}).sort("_id", ASCENDING)
        return [to_webhook(doc) for doc in cursor]

    def count(self, workspace_id: str) -> int:
        return self.collection.count_documents({"workspace_id": ref(workspace_id)})

    def delete(self, workspace_id: str, webhook_id: str) -> bool:
        oid = maybe_object_id(webhook_id)
        if oid is None:
            return False
        return self.collection.delete_one({"_id": oid, "workspace_id": ref(workspace_id)}).deleted_count == 1

    def subscribed(self, workspace_id: str, event: str) -> builtins.list[Webhook]:
        cursor = self.collection.find({"workspace_id": ref(workspace_id), "events": event})
        return [to_webhook(doc) for doc in cursor]


class MongoDeliveryRepository(MongoRepository, DeliveryRepository):
    collection_name = "webhook_deliveries"
    indexes = [
        ([("status", ASCENDING), ("next_attempt_at", ASCENDING)], {"name": "due"}),
        ([("webhook_id", ASCENDING), ("created_at", DESCENDING)], {"name": "log"}),
        ([("event_id", ASCENDING), ("webhook_id", ASCENDING)], {"unique": True, "name": "once"}),
        ([("created_at", ASCENDING)], {"expireAfterSeconds": DELIVERY_LOG_RETENTION_S,
                                       "name": "retention"}),
    ]

    def add_many(self, deliveries: list[Delivery]) -> None:
        docs = []
        for delivery in deliveries:
            doc = asdict(delivery)
            doc.pop("id")
            doc["status"] = delivery.status.value
            doc.update(webhook_id=ref(delivery.webhook_id), workspace_id=ref(delivery.workspace_id))
            docs.append(doc)
        try:
            self.collection.insert_many(docs, ordered=False)
        except BulkWriteError as error:
            if any(e.get("code") != DUPLICATE_KEY for e in error.details.get("writeErrors", [])):
                raise

    def claim_due(self, now: datetime, lease_until: datetime) -> Delivery | None:
        doc = self.collection.find_one_and_update(
            {"status": DeliveryStatus.PENDING.value, "next_attempt_at": {"$lte": now}},
            {"$set": {"next_attempt_at": lease_until}},
            sort=[("next_attempt_at", ASCENDING)], return_document=ReturnDocument.BEFORE)
        return to_delivery(doc) if doc else None

    def record_attempt(self, delivery_id: str, attempt: DeliveryAttempt, status: DeliveryStatus,
                       next_attempt_at: datetime | None) -> None:
        changes = {"status": status.value, "next_attempt_at": next_attempt_at,
                   "status_code": attempt.status_code, "error": attempt.error}
        if status == DeliveryStatus.DELIVERED:
            changes["delivered_at"] = attempt.at
        self.collection.update_one({"_id": maybe_object_id(delivery_id)}, {
            "$set": changes, "$inc": {"attempts": 1}, "$push": {"log": asdict(attempt)}})

    def page(self, webhook_id: str, page: PageRequest) -> Page[Delivery]:
        return paginate(self.collection, {"webhook_id": ref(webhook_id)}, page,
                        [("created_at", DESCENDING), ("_id", DESCENDING)], to_delivery)
