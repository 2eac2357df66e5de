"""What a workflow loses when it is published as a template: anything that looks like a
credential, and every reference to its workspace or to that workspace's files.

- each node type's own `publish` rule (nodes/: http_request drops secret-looking headers, query
  parameters and JSON body values; file_text forgets its file). The rule is abstract in
  nodes/base.py, so a new type cannot be published without one; a node of a type the registry
  does not know is refused (UnknownNodeType) rather than published unexamined;
- then every string of every config: ids of the workspace and of its files (24-hex ids) and
  API-key-like tokens (`sk-...`, `Bearer ...`) are removed.
"""
from __future__ import annotations

import copy
import re
from typing import Any

from entities.workflow import Graph, Node
from use_cases.workflows.nodes.registry import NODE_TYPES, NodeRegistry

OBJECT_ID = re.compile(r"\b[0-9a-f]{24}\b", re.IGNORECASE)
KEY_LIKE = re.compile(r"\b(?:sk|pk|rk|xox[abpr])-[A-Za-z0-9_-]{12,}|\bBearer\s+[A-Za-z0-9._~+/=-]+")


def strip_secrets(graph: Graph, registry: NodeRegistry = NODE_TYPES) -> Graph:
    nodes = [_clean_node(node, registry) for node in graph.nodes]
    return Graph(nodes, copy.deepcopy(graph.edges))


def _clean_node(node: Node, registry: NodeRegistry) -> Node:
    config = registry[node.type].publish(copy.deepcopy(node.config))
    return Node(node.id, node.type, node.name, _scrub(config))


def _scrub(value: Any) -> Any:
    if isinstance(value, str):
        return KEY_LIKE.sub("", OBJECT_ID.sub("", value))
    if isinstance(value, dict):
        return {key: _scrub(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_scrub(item) for item in value]
    return value
