from __future__ import annotations

import logging

from pymongo import ASCENDING

from entities.clock import utcnow
from repositories.mongo import MongoRepository
from use_cases.identity.ports import Mailer

log = logging.getLogger(__name__)

OUTBOX_TTL_S = 7 * 24 * 3600


class MongoOutboxMailer(MongoRepository, Mailer):
    """Mail for development and tests: stored in `outbox` (API.md) instead of sent. The log line
    names the recipient and subject only, never the token."""

    collection_name = "outbox"
    indexes = [
        ([("to", ASCENDING), ("created_at", ASCENDING)], {"name": "to_created"}),
        ([("created_at", ASCENDING)], {"expireAfterSeconds": OUTBOX_TTL_S, "name": "ttl"}),
    ]

    def send(self, to: str, subject: str, body: str, token: str | None = None) -> None:
        doc = {"to": to, "subject": subject, "body": body, "created_at": utcnow()}
        if token is not None:
            doc["token"] = token
        self.collection.insert_one(doc)
        log.info("mail stored in outbox", extra={"fields": {"to": to, "subject": subject}})
