"""Workflow executions in MongoDB, leased to workers.

A run is claimable when its lease has expired: a queued run nobody reserved has a lease that
expired in 1970. Claims are compare-and-set updates (the lease and worker read must still be
there), so two workers can never both win one run. Inputs, outputs and node outputs are user
JSON, stored as JSON text (see repositories/workflows.py).
"""
from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta

from pymongo import ASCENDING, DESCENDING, ReturnDocument
from pymongo.errors import DocumentTooLarge

from entities.clock import utcnow
from entities.errors import PayloadTooLarge
from entities.pagination import Page, PageRequest
from entities.workflow import Execution, ExecutionStatus, NodeRun, NodeStatus
from repositories.mongo import MongoRepository, maybe_object_id, paginate, ref, text
from repositories.workflows import dump_json, graph_from_doc, graph_to_doc, load_json
from use_cases.workflows.ports import ExecutionRepository

NEVER_LEASED = datetime(1970, 1, 1, tzinfo=UTC)
LIVE = [ExecutionStatus.QUEUED.value, ExecutionStatus.RUNNING.value]
CLAIM_CANDIDATES = 5


@contextmanager
def _within_document_limit() -> Iterator[None]:
    """MongoDB's 16 MB document limit as a domain error: a run's state that outgrew it is a
    deterministic failure, not a lost worker."""
    try:
        yield
    except DocumentTooLarge:
        raise PayloadTooLarge("The run's state is over MongoDB's 16 MB document limit") from None


def node_run_to_doc(run: NodeRun) -> dict:
    return {"node_id": run.node_id, "status": run.status.value, "started_at": run.started_at,
            "finished_at": run.finished_at, "output_json": dump_json(run.output),
            "error": run.error, "attempts": run.attempts, "error_code": run.error_code}


def to_node_run(doc: dict) -> NodeRun:
    return NodeRun(doc["node_id"], NodeStatus(doc["status"]), doc.get("started_at"),
                   doc.get("finished_at"), load_json(doc.get("output_json")), doc.get("error"),
                   doc.get("attempts", 0), doc.get("error_code"))


def to_execution(doc: dict) -> Execution:
    return Execution(
        id=str(doc["_id"]), workflow_id=text(doc["workflow_id"]),
        workflow_version=doc["workflow_version"], workspace_id=text(doc["workspace_id"]),
        created_by=text(doc["created_by"]), graph=graph_from_doc(doc["graph"]),
        status=ExecutionStatus(doc["status"]), inputs=load_json(doc.get("inputs_json")) or {},
        outputs=load_json(doc.get("outputs_json")),
        node_runs=[to_node_run(run) for run in doc.get("node_runs", [])],
        error=doc.get("error"), cancel_requested=doc.get("cancel_requested", False),
        worker_id=doc.get("worker_id"), claims=doc.get("claims", 0),
        created_at=doc.get("created_at"), started_at=doc.get("started_at"),
        finished_at=doc.get("finished_at"), duration_ms=doc.get("duration_ms"))


def _lease(lease_s: float) -> datetime:
    return utcnow() + timedelta(seconds=lease_s)


class MongoExecutionRepository(MongoRepository, ExecutionRepository):
    collection_name = "executions"
    indexes = [
        ([("status", ASCENDING), ("lease_until", ASCENDING)], {"name": "claimable"}),
        ([("workflow_id", ASCENDING), ("created_at", DESCENDING)], {"name": "workflow_recent"}),
    ]

    def add(self, execution: Execution, reserved_by: str | None, lease_s: float) -> Execution:
        doc = {
            "workflow_id": ref(execution.workflow_id), "workflow_version": execution.workflow_version,
            "workspace_id": ref(execution.workspace_id), "created_by": ref(execution.created_by),
            "graph": graph_to_doc(execution.graph), "status": ExecutionStatus.QUEUED.value,
            "inputs_json": dump_json(execution.inputs), "outputs_json": None, "node_runs": [],
            "error": None, "cancel_requested": False, "worker_id": reserved_by,
            "lease_until": _lease(lease_s) if reserved_by else NEVER_LEASED,
            "claims": 1 if reserved_by else 0, "created_at": execution.created_at or utcnow(),
            "started_at": None, "finished_at": None, "duration_ms": None,
        }
        doc["_id"] = self.collection.insert_one(doc).inserted_id
        return to_execution(doc)

    def get(self, execution_id: str) -> Execution | None:
        oid = maybe_object_id(execution_id)
        doc = self.collection.find_one({"_id": oid}) if oid else None
        return to_execution(doc) if doc else None

    def list_for_workflow(self, workflow_id: str, page: PageRequest) -> Page[Execution]:
        return paginate(self.collection, {"workflow_id": ref(workflow_id)}, page,
                        [("created_at", DESCENDING), ("_id", DESCENDING)], to_execution)

    def claim(self, worker_id: str, lease_s: float, max_claims: int) -> Execution | None:
        query = {"status": {"$in": LIVE}, "lease_until": {"$lt": utcnow()},
                 "claims": {"$lt": max_claims}}
        candidates = self.collection.find(query).sort([("created_at", ASCENDING)]).limit(
            CLAIM_CANDIDATES)
        for doc in candidates:
            changes = {"status": ExecutionStatus.RUNNING.value, "worker_id": worker_id,
                       "lease_until": _lease(lease_s)}
            won = self.collection.update_one(
                {"_id": doc["_id"], "status": doc["status"], "lease_until": doc["lease_until"],
                 "worker_id": doc.get("worker_id")},
                {"$set": changes, "$inc": {"claims": 1}})
            if won.modified_count:
                doc.update(changes, claims=doc.get("claims", 0) + 1)
                return to_execution(doc)
        return None

    def begin(self, execution: Execution, worker_id: str, lease_s: float) -> bool:
        result = self.collection.update_one(
            {"_id": maybe_object_id(execution.id), "worker_id": worker_id, "status": {"$in": LIVE}},
            {"$set": {"status": ExecutionStatus.RUNNING.value, "started_at": execution.started_at,
                      "node_runs": [node_run_to_doc(run) for run in execution.node_runs],
                      "lease_until": _lease(lease_s)}})
        return result.matched_count == 1

    def heartbeat(self, execution_id: str, worker_id: str, lease_s: float,
                  node_runs: list[NodeRun] | None = None) -> str:
        oid = maybe_object_id(execution_id)
        changes: dict = {"lease_until": _lease(lease_s)}
        if node_runs is not None:
            changes["node_runs"] = [node_run_to_doc(run) for run in node_runs]
        with _within_document_limit():
            result = self.collection.update_one(
                {"_id": oid, "worker_id": worker_id, "status": ExecutionStatus.RUNNING.value,
                 "cancel_requested": False}, {"$set": changes})
        if result.matched_count:
            return "ok"
        doc = self.collection.find_one({"_id": oid}, {"worker_id": 1, "status": 1})
        still_ours = (doc is not None and doc.get("worker_id") == worker_id
                      and doc.get("status") == ExecutionStatus.RUNNING.value)
        return "cancel" if still_ours else "lost"

    def finish(self, execution: Execution, worker_id: str) -> bool:
        with _within_document_limit():
            result = self.collection.update_one(
                {"_id": maybe_object_id(execution.id), "worker_id": worker_id,
                 "status": ExecutionStatus.RUNNING.value},
                {"$set": {"status": execution.status.value,
                          "outputs_json": dump_json(execution.outputs)
                          if execution.outputs is not None else None,
                          "node_runs": [node_run_to_doc(run) for run in execution.node_runs],
                          "error": execution.error, "finished_at": execution.finished_at,
                          "duration_ms": execution.duration_ms}})
        return result.matched_count == 1

    def release(self, execution_id: str, worker_id: str, node_runs: list[NodeRun]) -> None:
        self.collection.update_one(
            {"_id": maybe_object_id(execution_id), "worker_id": worker_id,
             "status": ExecutionStatus.RUNNING.value},
            {"$set": {"status": ExecutionStatus.QUEUED.value, "worker_id": None,
                      "lease_until": NEVER_LEASED,
                      "node_runs": [node_run_to_doc(run) for run in node_runs]},
             "$inc": {"claims": -1}})

    def cancel_if_idle(self, execution_id: str) -> Execution | None:
        now = utcnow()
        doc = self.collection.find_one_and_update(
            {"_id": maybe_object_id(execution_id),
             "$or": [{"status": ExecutionStatus.QUEUED.value},
                     {"status": ExecutionStatus.RUNNING.value, "lease_until": {"$lt": now}}]},
            {"$set": {"status": ExecutionStatus.CANCELLED.value, "error": "Cancelled on request",
                      "finished_at": now}},
            return_document=ReturnDocument.AFTER)
        return to_execution(doc) if doc else None

    def request_cancel(self, execution_id: str) -> Execution | None:
        doc = self.collection.find_one_and_update(
            {"_id": maybe_object_id(execution_id), "status": ExecutionStatus.RUNNING.value},
            {"$set": {"cancel_requested": True}}, return_document=ReturnDocument.AFTER)
        return to_execution(doc) if doc else None

    def fail_abandoned(self, max_claims: int, reason: str) -> list[Execution]:
        query = {"status": {"$in": LIVE}, "lease_until": {"$lt": utcnow()},
                 "claims": {"$gte": max_claims}}
        failed = []
        for doc in self.collection.find(query).limit(100):
            now = utcnow()
            changes = {"status": ExecutionStatus.FAILED.value, "error": reason, "finished_at": now}
            if doc.get("started_at"):
                changes["duration_ms"] = round((now - doc["started_at"]).total_seconds() * 1000, 1)
            won = self.collection.update_one(
                {"_id": doc["_id"], "status": doc["status"], "lease_until": doc["lease_until"]},
                {"$set": changes})
            if won.modified_count:
                doc.update(changes)
                failed.append(to_execution(doc))
        return failed
