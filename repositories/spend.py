"""Monthly spend counters (collection `spend`): one document per scope, id and month, moved
with $inc as usage batches are written."""
from __future__ import annotations

from pymongo import UpdateOne

from entities.budget import SpendIncrement, SpendScope
from entities.clock import utcnow
from repositories.mongo import MongoRepository
from use_cases.gateway.ports import SpendRepository


def counter_id(scope: SpendScope, ref_id: str, month: str) -> str:
    return f"{scope.value}:{ref_id}:{month}"


class MongoSpendRepository(MongoRepository, SpendRepository):
    collection_name = "spend"
    indexes = []  # read and written by _id only

    def add(self, increments: list[SpendIncrement]) -> None:
        if not increments:
            return
        now = utcnow()
        self.collection.bulk_write([
            UpdateOne({"_id": counter_id(inc.scope, inc.ref_id, inc.month)},
                      {"$inc": {"cost_usd": inc.cost_usd, "requests": inc.requests},
                       "$set": {"updated_at": now},
                       "$setOnInsert": {"scope": inc.scope.value, "ref_id": inc.ref_id,
                                        "month": inc.month}},
                      upsert=True)
            for inc in increments
        ], ordered=False)

    def spent(self, scope: SpendScope, ref_id: str, month: str) -> float:
        doc = self.collection.find_one({"_id": counter_id(scope, ref_id, month)}, {"cost_usd": 1})
        return float(doc["cost_usd"]) if doc else 0.0
