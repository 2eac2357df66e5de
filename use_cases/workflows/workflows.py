"""Workflows of a workspace: viewers read them, members create, edit and run them; deleting
takes the creator or an admin. Every save is validated and bumps the version."""
from __future__ import annotations

from typing import Any

from entities.actor import Actor
from entities.clock import utcnow
from entities.errors import Forbidden, NotFound
from entities.pagination import Page, PageRequest
from entities.workflow import Graph, Workflow
from entities.workspace import Membership, WorkspaceRole
from use_cases.workflows.nodes.registry import catalogue
from use_cases.workflows.ports import WorkflowRepository
from use_cases.workflows.validation import WorkflowValidator
from use_cases.workspaces.access import WorkspaceAccess

EDITABLE = ("name", "description", "is_active")


class Workflows:
    def __init__(self, workflows: WorkflowRepository, access: WorkspaceAccess,
                 validator: WorkflowValidator):
        self.workflows = workflows
        self.access = access
        self.validator = validator

    @staticmethod
    def node_types() -> list[dict[str, Any]]:
        return catalogue()

    def require(self, user_id: str, workflow_id: str, minimum: WorkspaceRole,
                include_deleted: bool = False) -> tuple[Workflow, Membership]:
        """The workflow and the caller's membership; NotFound for a workflow of another tenant."""
        workflow = self.workflows.get(workflow_id, include_deleted=include_deleted)
        if workflow is None:
            raise NotFound("Workflow not found")
        try:
            membership = self.access.require(user_id, workflow.workspace_id, minimum)
        except NotFound:
            raise NotFound("Workflow not found") from None
        return workflow, membership

    def list(self, actor: Actor, workspace_id: str | None, page: PageRequest,
             deleted: bool = False) -> Page[Workflow]:
        membership = self.access.require(actor.user_id, workspace_id, WorkspaceRole.VIEWER)
        return self.workflows.list(membership.workspace_id, page, deleted=deleted)

    def create(self, actor: Actor, workspace_id: str | None, name: str, graph: Graph,
               description: str = "", is_active: bool = True) -> Workflow:
        membership = self.access.require(actor.user_id, workspace_id, WorkspaceRole.MEMBER)
        self.validator.check(graph)
        now = utcnow()
        return self.workflows.add(Workflow(
            id="", workspace_id=membership.workspace_id, name=name, created_by=actor.user_id,
            description=description, graph=graph, version=1, is_active=is_active,
            created_at=now, updated_at=now))

    def get(self, actor: Actor, workflow_id: str) -> Workflow:
        return self.require(actor.user_id, workflow_id, WorkspaceRole.VIEWER)[0]

    def update(self, actor: Actor, workflow_id: str, changes: dict[str, Any],
               expected_version: int | None = None) -> Workflow:
        """PUT and PATCH: `changes` may hold name, description, is_active, nodes and edges."""
        workflow, _ = self.require(actor.user_id, workflow_id, WorkspaceRole.MEMBER)
        fields = {key: changes[key] for key in EDITABLE if key in changes}
        if "nodes" in changes or "edges" in changes:
            graph = Graph(changes.get("nodes", workflow.nodes), changes.get("edges", workflow.edges))
            self.validator.check(graph)
            fields["graph"] = graph
        saved = self.workflows.save(workflow_id, expected_version, **fields)
        if saved is None:
            raise NotFound("Workflow not found")
        return saved

    def delete(self, actor: Actor, workflow_id: str) -> None:
        self._set_deleted(actor, workflow_id, True)

    def restore(self, actor: Actor, workflow_id: str) -> Workflow:
        return self._set_deleted(actor, workflow_id, False)

    def _set_deleted(self, actor: Actor, workflow_id: str, deleted: bool) -> Workflow:
        workflow, membership = self.require(actor.user_id, workflow_id, WorkspaceRole.MEMBER,
                                            include_deleted=True)
        if (workflow.deleted_at is None) != deleted:
            raise NotFound("Workflow not found")
        if workflow.created_by != actor.user_id and not membership.role.at_least(WorkspaceRole.ADMIN):
            raise Forbidden("Only the workflow's creator or a workspace admin can do this")
        changed = self.workflows.set_deleted(workflow_id, deleted)
        if changed is None:
            raise NotFound("Workflow not found")
        return changed
