"""A talk's messages as a tree: each message follows its `parent_id`, and the talk shows the
path from the root to its `current_leaf_id`.

Pure functions over `MessageNode`s (a message without its content), so a long talk's shape is
computed from one projection query. Talks stored before trees had `parent_id` on assistant
replies only; `implied_parents` reads such a talk as the single line it was (by creation order),
the rule data/migrations/0002_message_trees.py applies to stored data.
"""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import datetime

from entities.talk import MessageRole, MessageStatus


@dataclass(frozen=True)
class MessageNode:
    """A message's place in its talk's tree (no content)."""

    id: str
    parent_id: str | None
    role: MessageRole
    status: MessageStatus
    created_at: datetime | None
    seq: int = 0  # the talk's counter when it was stored: creation order
    deleted: bool = False


def in_creation_order(nodes: Iterable[MessageNode]) -> list[MessageNode]:
    """By `created_at`, then `seq`, then id (data/migrations/0002_message_trees.py's order)."""
    return sorted(nodes, key=lambda node: (
        node.created_at.timestamp() if node.created_at else 0.0, node.seq, node.id))


def implied_parents(nodes: Iterable[MessageNode]) -> list[MessageNode]:
    """A talk stored before trees, as a tree: every user message without a parent (but the
    first) follows the message stored just before it; replies keep their user message. A
    message whose parent is not in the talk (gone, or another talk's) follows the one before
    it too, so the line is not cut there. Nodes in creation order."""
    ordered = in_creation_order(nodes)
    ids = {node.id for node in ordered}
    linked: list[MessageNode] = []
    for index, node in enumerate(ordered):
        orphan = node.parent_id is not None and node.parent_id not in ids
        if index > 0 and (orphan or (node.parent_id is None and node.role is MessageRole.USER)):
            node = replace(node, parent_id=ordered[index - 1].id)
        elif orphan:
            node = replace(node, parent_id=None)
        linked.append(node)
    return linked


def path_to(nodes: dict[str, MessageNode], leaf_id: str | None) -> list[MessageNode]:
    """The nodes from the root to `leaf_id`, root first (deleted ones included: a caller leaves
    them out after the walk, so a deleted message does not cut its branch). Stops at a parent
    that is missing or already seen (a cycle is never followed)."""
    path: list[MessageNode] = []
    seen: set[str] = set()
    current = nodes.get(leaf_id) if leaf_id else None
    while current is not None and current.id not in seen:
        seen.add(current.id)
        path.append(current)
        current = nodes.get(current.parent_id) if current.parent_id else None
    path.reverse()
    return path


def children_of(nodes: Iterable[MessageNode]) -> dict[str | None, list[str]]:
    """Parent id (None: the roots) -> its children's ids, in creation order."""
    children: dict[str | None, list[str]] = {}
    for node in in_creation_order(nodes):
        children.setdefault(node.parent_id, []).append(node.id)
    return children


def latest_leaf(nodes: dict[str, MessageNode], start_id: str) -> str:
    """The most recently created leaf among the live descendants of `start_id` (the branch
    most recently added or continued under it); `start_id` itself when it has no live child."""
    children = children_of(node for node in nodes.values() if not node.deleted)
    leaves: list[MessageNode] = []
    stack, seen = [start_id], {start_id}
    while stack:
        current = stack.pop()
        below = [child for child in children.get(current, []) if child not in seen]
        if not below and current in nodes:
            leaves.append(nodes[current])
        seen.update(below)
        stack.extend(below)
    return in_creation_order(leaves)[-1].id if leaves else start_id


def visible_tree(nodes: Iterable[MessageNode]) -> list[MessageNode]:
    """The live nodes, a node under a deleted message re-attached to its nearest live
    ancestor (so the tree shown has no holes), in creation order."""
    by_id = {node.id: node for node in nodes}
    above: dict[str, str | None] = {}  # a deleted node -> its nearest live ancestor, once found
    shown: list[MessageNode] = []
    for node in in_creation_order(by_id.values()):
        if node.deleted:
            continue
        parent, seen, run = node.parent_id, {node.id}, []
        while parent is not None and parent in by_id and by_id[parent].deleted \
                and parent not in seen:
            if parent in above:  # each deleted run is walked once, however many hang below
                parent = above[parent]
                break
            seen.add(parent)
            run.append(parent)
            parent = by_id[parent].parent_id
        if parent is not None and parent not in by_id:
            parent = None
        above.update(dict.fromkeys(run, parent))
        shown.append(replace(node, parent_id=parent))
    return shown
