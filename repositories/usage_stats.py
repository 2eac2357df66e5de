"""Usage analytics: one aggregation over `usage` (its indexes are declared by
repositories/usage.py: workspace_id + created_at, and created_at alone)."""
from __future__ import annotations

from entities.usage_report import UsageGroup, UsageQuery, UsageReport, UsageTotals
from repositories.mongo import MongoRepository, ref
from use_cases.analytics.ports import UsageStatistics

GROUP_KEYS = {
    "day": {"$dateToString": {"format": "%Y-%m-%d", "date": "$created_at"}},
    "model": "$model",
    "user": "$user_id",
}
SORTS = {
    "day": {"_id": 1},
    "model": {"cost_usd": -1, "requests": -1, "_id": 1},
    "user": {"cost_usd": -1, "requests": -1, "_id": 1},
}
SUMS = {
    "requests": {"$sum": 1},
    "prompt_tokens": {"$sum": "$prompt_tokens"},
    "completion_tokens": {"$sum": "$completion_tokens"},
    "cost_usd": {"$sum": "$cost_usd"},
    "latency_ms": {"$sum": "$latency_ms"},
    "errors": {"$sum": {"$cond": [{"$eq": ["$status", "error"]}, 1, 0]}},
}


def _totals(doc: dict) -> dict:
    requests = int(doc.get("requests", 0))
    return {
        "requests": requests,
        "prompt_tokens": int(doc.get("prompt_tokens", 0)),
        "completion_tokens": int(doc.get("completion_tokens", 0)),
        "cost_usd": round(float(doc.get("cost_usd", 0.0)), 8),
        "avg_latency_ms": round(float(doc.get("latency_ms", 0.0)) / requests, 1) if requests else 0.0,
        "errors": int(doc.get("errors", 0)),
    }


class MongoUsageStatistics(MongoRepository, UsageStatistics):
    collection_name = "usage"
    indexes = []  # see repositories/usage.py

    def report(self, query: UsageQuery) -> UsageReport:
        match: dict = {"created_at": {"$gte": query.since, "$lt": query.until}}
        if query.workspace_id is not None:
            match = {"workspace_id": ref(query.workspace_id), **match}
        pipeline = [
            {"$match": match},
            {"$facet": {
                "items": [{"$group": {"_id": GROUP_KEYS[query.group_by], **SUMS}},
                          {"$sort": SORTS[query.group_by]}],
                "totals": [{"$group": {"_id": None, **SUMS}}],
            }},
        ]
        result: dict = next(self.collection.aggregate(pipeline), {"items": [], "totals": []})
        # a user's ObjectId as its id string; days and model names are strings already
        items = [UsageGroup(key=None if doc["_id"] is None else str(doc["_id"]), **_totals(doc))
                 for doc in result["items"]]
        totals = UsageTotals(**_totals(result["totals"][0])) if result["totals"] else UsageTotals()
        return UsageReport(query, items, totals)
