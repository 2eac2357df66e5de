"""What the agents area needs from the outside: where agents are stored, and the features of
other areas a tool or a reply runs through (wired by the composition root, so the agents area
imports neither chat nor workflows)."""
from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any

from entities.actor import Actor
from entities.agent import Agent
from entities.deadline import Deadline
from entities.pagination import Page, PageRequest


class AgentRepository(ABC):
    @abstractmethod
    def add(self, agent: Agent) -> Agent:
        """Stores a new agent and returns it with its id."""

    @abstractmethod
    def get(self, agent_id: str, include_deleted: bool = False) -> Agent | None:
        """The agent, or None (also for a malformed id, and for a deleted one unless asked)."""

    @abstractmethod
    def list(self, workspace_id: str, page: PageRequest) -> Page[Agent]:
        """The workspace's agents that are not deleted, newest first."""

    @abstractmethod
    def save(self, agent_id: str, **changes: Any) -> Agent | None:
        """Applies `changes` (Agent field names), bumps `version` and `updated_at`; None when the
        agent is absent or deleted."""

    @abstractmethod
    def set_deleted(self, agent_id: str) -> Agent | None:
        """Soft delete; None when absent or already deleted."""


@dataclass(frozen=True)
class WorkflowSummary:
    workspace_id: str
    name: str
    description: str
    fields: list[dict[str, Any]]  # the `input` node's `[{name, type, required?, description?}]`


class WorkflowTools(ABC):
    """Workflows seen as tools (implemented over the workflows area by the composition root)."""

    @abstractmethod
    def describe(self, actor: Actor, workflow_id: str) -> WorkflowSummary:
        """The workflow's workspace, name, description and input fields. NotFound when the actor
        cannot read it (deleted, another tenant's)."""

    @abstractmethod
    def run(self, actor: Actor, workflow_id: str, inputs: dict[str, Any],
            deadline: Deadline) -> dict[str, Any]:
        """Executes the workflow as `actor` (with every limit of the workflow sandbox) and waits
        for it until `deadline`; returns its `outputs`. DomainError when it cannot start (NotFound,
        Forbidden, ValidationFailed for bad inputs, QuotaExceeded) and UpstreamError when it fails
        (its error message) or runs past the deadline (then it is cancelled)."""
