"""ChatGPT's data export: `conversations.json` (or `conversations-NNN.json` files in the zip),
a list of conversations `{id | conversation_id, title, create_time, update_time, mapping,
current_node, default_model_slug}`.

`mapping` is the message tree: `{node_id: {id, parent, children, message}}` where `message` is
null (the root) or `{id, author: {role}, create_time, content: {content_type, parts | text},
status, metadata: {model_slug, is_visually_hidden_from_conversation}}`. Only what a person reads
is kept: user and assistant text (`text`, `multimodal_text` string parts, `code`); system
prompts, tool calls and output, browsing displays, reasoning, empty and hidden messages are
dropped, and their
children hang from the nearest kept ancestor, so branches (edits, regenerations) survive.
`current_node` (the branch shown) becomes the current leaf.
"""
from __future__ import annotations

from entities.errors import ValidationFailed
from entities.talk_import import ImportedConversation, ImportedMessage
from use_cases.imports.formats.base import (
    ConversationFormat,
    as_id,
    as_text,
    as_time,
    required_id,
)

TEXT_TYPES = ("text", "multimodal_text")
KEPT_ROLES = ("user", "assistant")


def _text(message: dict) -> str | None:
    content = message.get("content")
    if not isinstance(content, dict):
        return None
    kind = content.get("content_type")
    if kind in TEXT_TYPES:
        parts = content.get("parts")
        if not isinstance(parts, list):
            return None
        texts = [part for part in parts if isinstance(part, str)]
        images = sum(1 for part in parts if isinstance(part, dict)
                     and str(part.get("content_type", "")).startswith("image"))
        text = "\n".join(texts).strip()
        if images:
            text = (text + "\n" if text else "") + "[image]" * images
        return text
    if kind == "code" and isinstance(content.get("text"), str):
        return f"```{as_text(content.get('language'))}\n{content['text']}\n```"
    return None


def _kept(message: object) -> tuple[str, str] | None:
    """(role, text) of a message a person reads, None for the others."""
    if not isinstance(message, dict):
        return None
    author = message.get("author")
    role = as_text(author.get("role")) if isinstance(author, dict) else ""
    metadata = message.get("metadata")
    if role not in KEPT_ROLES or (isinstance(metadata, dict)
                                  and metadata.get("is_visually_hidden_from_conversation")):
        return None
    if message.get("recipient") not in (None, "all"):  # a call to a tool, not a reply
        return None
    text = _text(message)
    if not text:
        return None
    return role, text


class ChatGPTFormat(ConversationFormat):
    name = "chatgpt"

    def detects(self, raw: dict) -> bool:
        return isinstance(raw.get("mapping"), dict)

    def convert(self, raw: dict) -> ImportedConversation:
        mapping = raw.get("mapping")
        if not isinstance(mapping, dict):
            raise ValidationFailed("`mapping` is not an object")
        nodes = {key: node for key, node in mapping.items() if isinstance(node, dict)}
        kept: dict[str, ImportedMessage] = {}
        for node_id, node in nodes.items():
            found = _kept(node.get("message"))
            if found is None:
                continue
            message = node["message"]
            metadata = message.get("metadata") if isinstance(message.get("metadata"), dict) else {}
            status = "failed" if as_text(message.get("status")) == "failed" else "complete"
            kept[node_id] = ImportedMessage(
                source_id=node_id, parent_source_id=None, role=found[0], content=found[1],
                created_at=as_time(message.get("create_time")),
                updated_at=as_time(message.get("update_time")),
                model=as_text(metadata.get("model_slug")) or None if found[0] == "assistant"
                else None, status=status)
        for node_id, message in kept.items():
            message.parent_source_id = _kept_ancestor(nodes, kept, nodes[node_id].get("parent"))
        current = as_id(raw.get("current_node"))
        leaf = _kept_ancestor(nodes, kept, current) if current else None
        return ImportedConversation(
            format=self.name, source_id=required_id(raw, "conversation_id", "id"),
            title=as_text(raw.get("title")), messages=list(kept.values()),
            created_at=as_time(raw.get("create_time")), updated_at=as_time(raw.get("update_time")),
            model=as_text(raw.get("default_model_slug")) or None,
            archived=raw.get("is_archived") is True, current_leaf_source_id=leaf)


def _kept_ancestor(nodes: dict[str, dict], kept: dict[str, ImportedMessage],
                   node_id: object) -> str | None:
    """The nearest kept node from `node_id` up (itself included); bounded by the node count, so
    a cycle in `parent` links ends."""
    current = as_id(node_id)
    for _ in range(len(nodes) + 1):
        if current is None or current not in nodes:
            return None
        if current in kept:
            return current
        current = as_id(nodes[current].get("parent"))
    return None
