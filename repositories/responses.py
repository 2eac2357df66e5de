"""Stored Responses API responses (collection `responses`), kept 30 days like OpenAI's.

The body and the conversation are stored as JSON text: they hold client-chosen keys (a tool's
JSON schema has `$ref`, `$defs`...) that MongoDB field names cannot always carry.
"""
from __future__ import annotations

import json

from pymongo import ASCENDING

from entities.responses import StoredResponse
from repositories.mongo import MongoRepository, ref, text
from use_cases.gateway.ports import ResponseRepository

RETENTION_S = 30 * 24 * 3600


def to_stored_response(doc: dict) -> StoredResponse:
    return StoredResponse(
        id=doc["_id"], workspace_id=text(doc["workspace_id"]), model=doc["model"],
        messages=json.loads(doc["messages"]), body=json.loads(doc["body"]),
        user_id=text(doc.get("user_id")), api_key_id=text(doc.get("api_key_id")),
        created_at=doc.get("created_at"))


class MongoResponseRepository(MongoRepository, ResponseRepository):
    collection_name = "responses"
    indexes = [
        ([("created_at", ASCENDING)], {"name": "created_ttl", "expireAfterSeconds": RETENTION_S}),
    ]

    def add(self, response: StoredResponse) -> StoredResponse:
        self.collection.insert_one({
            "_id": response.id, "workspace_id": ref(response.workspace_id), "model": response.model,
            "messages": json.dumps(response.messages), "body": json.dumps(response.body),
            "user_id": ref(response.user_id), "api_key_id": ref(response.api_key_id),
            "created_at": response.created_at})
        return response

    def get(self, workspace_id: str, response_id: str) -> StoredResponse | None:
        doc = self.collection.find_one({"_id": response_id, "workspace_id": ref(workspace_id)})
        return to_stored_response(doc) if doc else None
