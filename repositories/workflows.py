"""Workflows in MongoDB.

Node configs are user JSON (HTTP bodies, header names...) whose keys may hold `.` or start with
`$`, which MongoDB update paths refuse; they are stored as JSON text (`config_json`). Node ids,
types and edges stay plain fields.
"""
from __future__ import annotations

import json
from typing import Any

from pymongo import ASCENDING, DESCENDING, ReturnDocument

from entities.clock import utcnow
from entities.errors import Conflict
from entities.pagination import Page, PageRequest
from entities.workflow import Edge, Graph, Node, Workflow
from repositories.mongo import MongoRepository, maybe_object_id, paginate, ref, text
from use_cases.workflows.ports import WorkflowRepository


def dump_json(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), default=str)


def load_json(text: str | None) -> Any:
    return json.loads(text) if text else None


def graph_to_doc(graph: Graph) -> dict:
    return {
        "nodes": [{"id": n.id, "type": n.type, "name": n.name, "config_json": dump_json(n.config)}
                  for n in graph.nodes],
        "edges": [{"source": e.source, "target": e.target, "condition": e.condition}
                  for e in graph.edges],
    }


def graph_from_doc(doc: dict) -> Graph:
    return Graph(
        [Node(n["id"], n["type"], n.get("name", ""), load_json(n.get("config_json")) or {})
         for n in doc.get("nodes", [])],
        [Edge(e["source"], e["target"], e.get("condition")) for e in doc.get("edges", [])],
    )


def to_workflow(doc: dict) -> Workflow:
    return Workflow(
        id=str(doc["_id"]), workspace_id=text(doc["workspace_id"]), name=doc["name"],
        created_by=text(doc["created_by"]), description=doc.get("description", ""),
        graph=graph_from_doc(doc), version=doc.get("version", 1),
        is_active=doc.get("is_active", True), deleted_at=doc.get("deleted_at"),
        created_at=doc.get("created_at"), updated_at=doc.get("updated_at"))


class MongoWorkflowRepository(MongoRepository, WorkflowRepository):
    collection_name = "workflows"
    indexes = [
        ([("workspace_id", ASCENDING), ("deleted_at", ASCENDING), ("updated_at", DESCENDING)],
         {"name": "workspace_recent"}),
    ]

    def add(self, workflow: Workflow) -> Workflow:
        doc = {
            "workspace_id": ref(workflow.workspace_id), "name": workflow.name,
            "description": workflow.description, "created_by": ref(workflow.created_by),
            **graph_to_doc(workflow.graph), "version": workflow.version,
            "is_active": workflow.is_active, "deleted_at": None,
            "created_at": workflow.created_at, "updated_at": workflow.updated_at,
        }
        doc["_id"] = self.collection.insert_one(doc).inserted_id
        return to_workflow(doc)

    def get(self, workflow_id: str, include_deleted: bool = False) -> Workflow | None:
        doc = self.find_by_id(workflow_id, include_deleted)
        return to_workflow(doc) if doc else None

    def list(self, workspace_id: str, page: PageRequest, deleted: bool = False) -> Page[Workflow]:
        query = {"workspace_id": ref(workspace_id),
                 "deleted_at": {"$ne": None} if deleted else None}
        return paginate(self.collection, query, page,
                        [("updated_at", DESCENDING), ("_id", DESCENDING)], to_workflow)

    def save(self, workflow_id: str, expected_version: int | None, **changes) -> Workflow | None:
        oid = maybe_object_id(workflow_id)
        if oid is None:
            return None
        fields = dict(changes)
        graph = fields.pop("graph", None)
        if graph is not None:
            fields.update(graph_to_doc(graph))
        query: dict = {"_id": oid, "deleted_at": None}
        if expected_version is not None:
            query["version"] = expected_version
        doc = self.collection.find_one_and_update(
            query, {"$set": {**fields, "updated_at": utcnow()}, "$inc": {"version": 1}},
            return_document=ReturnDocument.AFTER)
        if doc is not None:
            return to_workflow(doc)
        if expected_version is not None and self.get(workflow_id) is not None:
            raise Conflict("The workflow was changed since you read it; reload it and retry",
                           {"version": [f"Expected version {expected_version} is not current."]})
        return None

    def set_deleted(self, workflow_id: str, deleted: bool) -> Workflow | None:
        oid = maybe_object_id(workflow_id)
        if oid is None:
            return None
        now = utcnow()
        doc = self.collection.find_one_and_update(
            {"_id": oid, "deleted_at": None if deleted else {"$ne": None}},
            {"$set": {"deleted_at": now if deleted else None, "updated_at": now}},
            return_document=ReturnDocument.AFTER)
        return to_workflow(doc) if doc else None
