"""Agents in MongoDB. Tool configs are user JSON (parameter schemas, header names) whose keys may
hold `.` or start with `$`, which MongoDB update paths refuse: they are stored as JSON text
(`tools_json`)."""
from __future__ import annotations

import json
from typing import Any

from pymongo import ASCENDING, DESCENDING, ReturnDocument

from entities.agent import DEFAULT_MAX_TOOL_ROUNDS, Agent
from entities.clock import utcnow
from entities.pagination import Page, PageRequest
from repositories.mongo import MongoRepository, maybe_object_id, paginate, ref, refs, text, texts
from use_cases.agents.ports import AgentRepository


def to_agent(doc: dict) -> Agent:
    return Agent(
        id=str(doc["_id"]), workspace_id=text(doc["workspace_id"]), name=doc["name"],
        model=doc["model"], created_by=text(doc["created_by"]),
        description=doc.get("description", ""), instructions=doc.get("instructions", ""),
        temperature=doc.get("temperature"), max_tokens=doc.get("max_tokens"),
        tools=json.loads(doc.get("tools_json") or "[]"), file_ids=texts(doc.get("file_ids")),
        max_tool_rounds=doc.get("max_tool_rounds", DEFAULT_MAX_TOOL_ROUNDS),
        version=doc.get("version", 1), created_at=doc.get("created_at"),
        updated_at=doc.get("updated_at"), deleted_at=doc.get("deleted_at"))


def _stored(changes: dict[str, Any]) -> dict[str, Any]:
    stored = dict(changes)
    if "tools" in stored:
        stored["tools_json"] = json.dumps(stored.pop("tools"), separators=(",", ":"))
    if "file_ids" in stored:
        stored["file_ids"] = refs(stored["file_ids"])
    return stored


class MongoAgentRepository(MongoRepository, AgentRepository):
    collection_name = "agents"
    indexes = [
        ([("workspace_id", ASCENDING), ("deleted_at", ASCENDING), ("updated_at", DESCENDING)],
         {"name": "workspace_recent"}),
    ]

    def add(self, agent: Agent) -> Agent:
        doc = _stored({
            "workspace_id": ref(agent.workspace_id), "name": agent.name, "model": agent.model,
            "created_by": ref(agent.created_by), "description": agent.description,
            "instructions": agent.instructions, "temperature": agent.temperature,
            "max_tokens": agent.max_tokens, "tools": agent.tools, "file_ids": agent.file_ids,
            "max_tool_rounds": agent.max_tool_rounds, "version": agent.version,
            "deleted_at": None, "created_at": agent.created_at, "updated_at": agent.updated_at,
        })
        doc["_id"] = self.collection.insert_one(doc).inserted_id
        return to_agent(doc)

    def get(self, agent_id: str, include_deleted: bool = False) -> Agent | None:
        doc = self.find_by_id(agent_id, include_deleted)
        return to_agent(doc) if doc else None

    def list(self, workspace_id: str, page: PageRequest) -> Page[Agent]:
        return paginate(self.collection, {"workspace_id": ref(workspace_id), "deleted_at": None},
                        page, [("updated_at", DESCENDING), ("_id", DESCENDING)], to_agent)

    def save(self, agent_id: str, **changes: Any) -> Agent | None:
        oid = maybe_object_id(agent_id)
        if oid is None:
            return None
        doc = self.collection.find_one_and_update(
            {"_id": oid, "deleted_at": None},
            {"$set": {**_stored(changes), "updated_at": utcnow()}, "$inc": {"version": 1}},
            return_document=ReturnDocument.AFTER)
        return to_agent(doc) if doc else None

    def set_deleted(self, agent_id: str) -> Agent | None:
        oid = maybe_object_id(agent_id)
        if oid is None:
            return None
        now = utcnow()
        doc = self.collection.find_one_and_update(
            {"_id": oid, "deleted_at": None}, {"$set": {"deleted_at": now, "updated_at": now}},
            return_document=ReturnDocument.AFTER)
        return to_agent(doc) if doc else None
