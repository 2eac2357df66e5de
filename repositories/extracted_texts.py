"""The text read from file versions, one document per version keyed by its blob id."""
from __future__ import annotations

from dataclasses import asdict

from entities.clock import utcnow
from entities.file import ExtractedText
from repositories.mongo import MongoRepository
from use_cases.files.ports import ExtractedTextRepository


class MongoExtractedTextRepository(MongoRepository, ExtractedTextRepository):
    collection_name = "extracted_texts"

    def get(self, blob_id: str) -> ExtractedText | None:
        doc = self.collection.find_one({"_id": blob_id})
        if doc is None:
            return None
        return ExtractedText(doc["text"], doc["truncated"], doc.get("error"),
                             doc.get("error_code"))

    def put(self, blob_id: str, text: ExtractedText) -> None:
        self.collection.replace_one({"_id": blob_id},
                                    {**asdict(text), "extracted_at": utcnow()}, upsert=True)

    def delete(self, blob_ids: list[str]) -> None:
        if blob_ids:
            self.collection.delete_many({"_id": {"$in": list(blob_ids)}})
