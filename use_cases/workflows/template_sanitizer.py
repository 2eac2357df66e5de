"""What a workflow loses when it is published as a template: every credential (replaced by a
named placeholder the installer fills in, see secret_stripping), and every reference to its
workspace or to that workspace's files.

- each node type's own `publish` rule (nodes/: http_request reads its headers, URL and body
  part by part; file_text forgets its file). The rule is abstract in nodes/base.py, so a new type
  cannot be published without one; a node of a type the registry does not know is refused
  (UnknownNodeType) rather than published unexamined;
- then every string of every config is read as text: the secrets the detector (detect-secrets)
  and our key-like rule (`sk-...`, `Bearer ...`) find become placeholders, and ids of the
  workspace and of its files (24-hex ids) are removed.
"""
from __future__ import annotations

import copy
import re
from typing import Any

from entities.workflow import Graph, Node
from use_cases.workflows.nodes.registry import NODE_TYPES, NodeRegistry
from use_cases.workflows.ports import SecretDetector
from use_cases.workflows.secret_stripping import SecretStripper

OBJECT_ID = re.compile(r"\b[0-9a-f]{24}\b", re.IGNORECASE)


def strip_secrets(graph: Graph, detector: SecretDetector, tenant: str,
                  registry: NodeRegistry = NODE_TYPES) -> Graph:
    """`graph` as a published template keeps it; `tenant`: the publishing workspace."""
    secrets = SecretStripper(detector, tenant)
    nodes = [_clean_node(node, secrets, registry) for node in graph.nodes]
    return Graph(nodes, copy.deepcopy(graph.edges))


def _clean_node(node: Node, secrets: SecretStripper, registry: NodeRegistry) -> Node:
    config = registry[node.type].publish(copy.deepcopy(node.config), secrets)
    return Node(node.id, node.type, node.name, _scrub(config, secrets, node.id))


def _scrub(value: Any, secrets: SecretStripper, hint: str) -> Any:
    if isinstance(value, str):
        return secrets.text(OBJECT_ID.sub("", value), hint)
    if isinstance(value, dict):
        return {key: _scrub(item, secrets, f"{hint}_{key}") for key, item in value.items()}
    if isinstance(value, list):
        return [_scrub(item, secrets, hint) for item in value]
    return value
