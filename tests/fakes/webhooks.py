"""Fakes of the webhook ports (use_cases/webhooks/ports.py)."""
from __future__ import annotations

import secrets

from repositories.webhooks import MongoDeliveryRepository, to_delivery
from tests.fakes.database import StoredRows, on_mongomock
from use_cases.webhooks.ports import WebhookRepository


class FakeWebhookRepository(WebhookRepository):
    """Webhooks in memory, so tests can name them ("w1"): a MongoDB repository gives every
    webhook an ObjectId. Proven equal to MongoWebhookRepository by tests/contract."""

    def __init__(self, *webhooks):
        self.items = {w.id: w for w in webhooks}

    def add(self, webhook):
        if not webhook.id:
            webhook.id = secrets.token_hex(12)
        self.items[webhook.id] = webhook
        return webhook

    def get(self, workspace_id, webhook_id):
        found = self.items.get(webhook_id)
        return found if found and found.workspace_id == workspace_id else None

    def list(self, workspace_id):
        return [w for w in self.items.values() if w.workspace_id == workspace_id]

    def count(self, workspace_id):
        return len(self.list(workspace_id))

    def delete(self, workspace_id, webhook_id):
        if self.get(workspace_id, webhook_id) is None:
            return False
        del self.items[webhook_id]
        return True

    def subscribed(self, workspace_id, event):
        return [w for w in self.list(workspace_id) if event in w.events]


class MongomockDeliveryRepository(MongoDeliveryRepository):
    """MongoDeliveryRepository, with its deliveries as `items` (id -> delivery, read and written
    through)."""

    @property
    def items(self) -> StoredRows:
        return StoredRows(self.collection, to_delivery)


def delivery_repository(db=None) -> MongomockDeliveryRepository:
    return on_mongomock(MongomockDeliveryRepository, db)
