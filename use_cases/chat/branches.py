"""A talk's tree: its shape, switching the branch shown, forking it at a message.

Messages form a tree through `parent_id` (an edited message is a sibling of the original, a
regenerated reply a sibling of the old one); the talk shows the path from the root to its
`current_leaf_id`, and the model is sent that path only. Same access as the talk: its owner
only (anyone else: 404); viewers of its workspace read the tree, members change the branch and
fork.
"""
from __future__ import annotations

from dataclasses import dataclass

from entities.errors import NotFound, ValidationFailed
from entities.message_tree import (
    MessageNode,
    children_of,
    implied_parents,
    latest_leaf,
    path_to,
    visible_tree,
)
from entities.talk import Talk
from use_cases.chat.ports import MessageRepository
from use_cases.chat.talks import WRITE, Talks


@dataclass(frozen=True)
class TreeNode:
    node: MessageNode
    children: list[str]


@dataclass(frozen=True)
class TalkTree:
    current_leaf_id: str | None
    nodes: list[TreeNode]  # creation order


class Branches:
    def __init__(self, talks: Talks, messages: MessageRepository):
        self.talks = talks
        self.messages = messages

    def tree(self, user_id: str, talk_id: str) -> TalkTree:
        """Every live message's place (no content: one projection query, cheap for long
        talks), with its children's ids in creation order. A talk stored before trees reads
        as one line (nothing is written). NotFound for a talk that is not the caller's."""
        talk = self.talks.visible(user_id, talk_id)
        nodes, leaf = self._nodes(talk)
        shown = visible_tree(nodes)
        children = children_of(shown)
        return TalkTree(leaf, [TreeNode(node, children.get(node.id, [])) for node in shown])

    def switch(self, user_id: str, talk_id: str, leaf_id: str) -> Talk:
        """Shows the branch through message `leaf_id`: a message with messages after it
        shows the most recently created leaf below it (the branch last added to). Returns
        the talk with its new `current_leaf_id` (and tells the owner's devices,
        `talk.branch_switched`). NotFound for a talk that is not the caller's;
        ValidationFailed (422, field `leaf_id`) for an id that is not a live message of the
        talk; Forbidden for a viewer."""
        talk = self.talks.linked(self.talks.visible(user_id, talk_id, WRITE))
        if self.messages.get(leaf_id, talk.id) is None:
            raise ValidationFailed("Unknown message",
                                   {"leaf_id": ["Not a message of this talk."]})
        leaf = leaf_id
        if self.messages.has_children(talk.id, leaf_id):  # only then is the whole shape read
            leaf = latest_leaf({node.id: node for node in self.messages.nodes(talk.id)},
                               leaf_id)
        self.talks.talks.set_current_leaf(talk.id, leaf)
        switched = self.talks.visible(user_id, talk_id)
        self.talks.events.branch_switched(switched)
        return switched

    def fork(self, user_id: str, talk_id: str, message_id: str) -> Talk:
        """A new talk of the caller's, in the same workspace, holding a copy of the path from
        the root to `message_id` (the copy's last message is current; attachments are
        referenced, not copied; the source is unchanged). NotFound for a talk that is not the
        caller's or an unknown message; Forbidden for a viewer of the workspace."""
        talk = self.talks.visible(user_id, talk_id)
        if self.messages.get(message_id, talk.id) is None:
            raise NotFound("Message not found")
        path = self.messages.path(talk, message_id)
        return self.talks.copy(user_id, talk.workspace_id, talk, path,
                               name=_fork_name(talk.name))

    def _nodes(self, talk: Talk) -> tuple[list[MessageNode], str | None]:
        """The talk's nodes and the live message its current path ends on."""
        nodes = self.messages.nodes(talk.id)
        leaf = talk.current_leaf_id
        if leaf is None and nodes:  # stored before trees
            nodes = implied_parents(nodes)
            leaf = nodes[-1].id
        live = [node.id for node in path_to({n.id: n for n in nodes}, leaf) if not node.deleted]
        return nodes, live[-1] if live else None


def _fork_name(name: str) -> str:
    return f"{name} (fork)" if name else ""
