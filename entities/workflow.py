"""Workflows: a graph of typed nodes joined by edges, and the runs (executions) of one."""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import Enum
from typing import Any


@dataclass
class Node:
    id: str
    type: str
    name: str = ""
    config: dict[str, Any] = field(default_factory=dict)


@dataclass
class Edge:
    source: str
    target: str
    condition: bool | None = None  # only on edges leaving a `condition` node


@dataclass
class Graph:
    """Nodes and edges, with the traversals the validator and the engine both need."""

    nodes: list[Node] = field(default_factory=list)
    edges: list[Edge] = field(default_factory=list)

    def node(self, node_id: str) -> Node | None:
        return next((node for node in self.nodes if node.id == node_id), None)

    def incoming(self, node_id: str) -> list[Edge]:
        return [edge for edge in self.edges if edge.target == node_id]

    def outgoing(self, node_id: str) -> list[Edge]:
        return [edge for edge in self.edges if edge.source == node_id]

    def ancestors(self, node_id: str) -> set[str]:
        seen: set[str] = set()
        stack = [edge.source for edge in self.incoming(node_id)]
        while stack:
            current = stack.pop()
            if current not in seen:
                seen.add(current)
                stack.extend(edge.source for edge in self.incoming(current))
        return seen

    def find_cycle(self) -> list[str] | None:
        """One cycle as a path of node ids (first == last), or None for a DAG."""
        successors: dict[str, list[str]] = {node.id: [] for node in self.nodes}
        for edge in self.edges:
            successors.setdefault(edge.source, []).append(edge.target)
        colour: dict[str, int] = {}  # 1: on the current path, 2: finished
        for start in successors:
            if colour.get(start):
                continue
            path = [start]
            iterators = [iter(successors[start])]
            colour[start] = 1
            while iterators:
                following = next(iterators[-1], None)
                if following is None:
                    colour[path.pop()] = 2
                    iterators.pop()
                elif colour.get(following) == 1:
                    return [*path[path.index(following):], following]
                elif not colour.get(following):
                    colour[following] = 1
                    path.append(following)
                    iterators.append(iter(successors.get(following, ())))
        return None


@dataclass
class Workflow:
    id: str
    workspace_id: str
    name: str
    created_by: str
    description: str = ""
    graph: Graph = field(default_factory=Graph)
    version: int = 1
    is_active: bool = True
    deleted_at: datetime | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None

    @property
    def nodes(self) -> list[Node]:
        return self.graph.nodes

    @property
    def edges(self) -> list[Edge]:
        return self.graph.edges


class ExecutionStatus(str, Enum):
    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def finished(self) -> bool:
        return self in (ExecutionStatus.SUCCEEDED, ExecutionStatus.FAILED,
                        ExecutionStatus.CANCELLED)


class NodeStatus(str, Enum):
    PENDING = "pending"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    SKIPPED = "skipped"
    CANCELLED = "cancelled"

    @property
    def finished(self) -> bool:
        return self not in (NodeStatus.PENDING, NodeStatus.RUNNING)


@dataclass
class NodeRun:
    node_id: str
    status: NodeStatus = NodeStatus.PENDING
    started_at: datetime | None = None
    finished_at: datetime | None = None
    output: Any = None
    error: str | None = None
    attempts: int = 0
    error_code: str | None = None  # timeout, cpu_limit, memory_limit, output_too_large, interrupted


@dataclass
class Execution:
    id: str
    workflow_id: str
    workflow_version: int
    workspace_id: str
    created_by: str
    graph: Graph  # the workflow as it was when the run was asked for
    status: ExecutionStatus = ExecutionStatus.QUEUED
    inputs: dict[str, Any] = field(default_factory=dict)
    outputs: dict[str, Any] | None = None
    node_runs: list[NodeRun] = field(default_factory=list)
    error: str | None = None
    cancel_requested: bool = False
    worker_id: str | None = None
    claims: int = 0
    created_at: datetime | None = None
    started_at: datetime | None = None
    finished_at: datetime | None = None
    duration_ms: float | None = None


@dataclass
class Template:
    """A workflow shared on the marketplace, with its secrets and workspace references removed."""

    id: str
    title: str
    description: str
    tags: list[str]
    author_id: str
    author_name: str
    graph: Graph
    rating: float = 0.0
    ratings_count: int = 0
    installs: int = 0
    source_workflow_id: str | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None
