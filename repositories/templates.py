"""Workflow templates and their ratings in MongoDB.

A rating is one document per (template, user); replacing it returns the previous stars, so the
template's `rating_sum` and `ratings_count` change by exact `$inc` deltas whatever order
concurrent ratings land in. The stored average `rating` (for sorting) is then set only if sum
and count are still the ones it was computed from, so a stale average never overwrites a newer.
"""
from __future__ import annotations

import re

from pymongo import ASCENDING, DESCENDING, ReturnDocument
from pymongo.errors import DuplicateKeyError

from entities.clock import utcnow
from entities.pagination import Page, PageRequest
from entities.workflow import Template
from repositories.mongo import MongoRepository, maybe_object_id, paginate, ref, text
from repositories.workflows import graph_from_doc, graph_to_doc
from use_cases.workflows.ports import TemplateRepository

SORTS = {
    "rating": [("rating", DESCENDING), ("ratings_count", DESCENDING), ("_id", DESCENDING)],
    "installs": [("installs", DESCENDING), ("_id", DESCENDING)],
    "recent": [("created_at", DESCENDING), ("_id", DESCENDING)],
}


def to_template(doc: dict) -> Template:
    return Template(
        id=str(doc["_id"]), title=doc["title"], description=doc.get("description", ""),
        tags=doc.get("tags", []), author_id=text(doc["author_id"]),
        author_name=doc.get("author_name", ""), graph=graph_from_doc(doc["graph"]),
        rating=round(doc.get("rating", 0.0), 2), ratings_count=doc.get("ratings_count", 0),
        installs=doc.get("installs", 0), source_workflow_id=text(doc.get("source_workflow_id")),
        created_at=doc.get("created_at"), updated_at=doc.get("updated_at"))


class MongoTemplateRepository(MongoRepository, TemplateRepository):
    collection_name = "workflow_templates"
    indexes = [
        ([("rating", DESCENDING)], {"name": "by_rating"}),
        ([("installs", DESCENDING)], {"name": "by_installs"}),
        ([("created_at", DESCENDING)], {"name": "by_recent"}),
        ([("tags", ASCENDING)], {"name": "tags"}),
    ]

    def __init__(self, db):
        super().__init__(db)
        self.ratings = db["workflow_template_ratings"]

    def ensure_indexes(self) -> None:
        super().ensure_indexes()
        self.ratings.create_index([("template_id", ASCENDING), ("user_id", ASCENDING)],
                                  unique=True, name="one_rating_per_user")

    def add(self, template: Template) -> Template:
        doc = {
            "title": template.title, "description": template.description, "tags": template.tags,
            "author_id": ref(template.author_id), "author_name": template.author_name,
            "graph": graph_to_doc(template.graph), "rating": 0.0, "rating_sum": 0,
            "ratings_count": 0, "installs": 0, "source_workflow_id": ref(template.source_workflow_id),
            "created_at": template.created_at, "updated_at": template.updated_at,
        }
        doc["_id"] = self.collection.insert_one(doc).inserted_id
        return to_template(doc)

    def get(self, template_id: str) -> Template | None:
        oid = maybe_object_id(template_id)
        doc = self.collection.find_one({"_id": oid}) if oid else None
        return to_template(doc) if doc else None

    def search(self, query: str | None, tag: str | None, sort: str,
               page: PageRequest) -> Page[Template]:
        match: dict = {}
        if query:
            pattern = {"$regex": re.escape(query), "$options": "i"}
            match["$or"] = [{"title": pattern}, {"description": pattern}, {"tags": pattern}]
        if tag:
            match["tags"] = tag.strip().lower()
        return paginate(self.collection, match, page, SORTS[sort], to_template)

    def count_install(self, template_id: str) -> None:
        self.collection.update_one({"_id": maybe_object_id(template_id)}, {"$inc": {"installs": 1}})

    def rate(self, template_id: str, user_id: str, stars: int, comment: str | None) -> Template | None:
        oid = maybe_object_id(template_id)
        if oid is None or self.collection.count_documents({"_id": oid}, limit=1) == 0:
            return None
        previous = self._replace_rating(template_id, user_id, stars, comment)
        delta_sum = stars - (previous["stars"] if previous else 0)
        delta_count = 0 if previous else 1
        doc = self.collection.find_one_and_update(
            {"_id": oid}, {"$inc": {"rating_sum": delta_sum, "ratings_count": delta_count}},
            return_document=ReturnDocument.AFTER)
        if doc is None:  # deleted meanwhile
            return None
        average = doc["rating_sum"] / doc["ratings_count"] if doc["ratings_count"] else 0.0
        self.collection.update_one(
            {"_id": oid, "rating_sum": doc["rating_sum"], "ratings_count": doc["ratings_count"]},
            {"$set": {"rating": average}})
        doc["rating"] = average
        return to_template(doc)

    def _replace_rating(self, template_id: str, user_id: str, stars: int,
                        comment: str | None) -> dict | None:
        """The rating this one replaces, if any."""
        now = utcnow()
        for _ in range(2):  # two first ratings racing: the loser's upsert hits the unique index
            try:
                return self.ratings.find_one_and_update(
                    {"template_id": ref(template_id), "user_id": ref(user_id)},
                    {"$set": {"stars": stars, "comment": comment, "updated_at": now},
                     "$setOnInsert": {"created_at": now}},
                    upsert=True, return_document=ReturnDocument.BEFORE)
            except DuplicateKeyError:
                continue
        raise RuntimeError("could not store the rating")
