"""LibreChat's conversation export (Export -> JSON): `{conversationId, title, endpoint, model?,
createdAt?, updatedAt?, options?, messages: [...], recursive?}` — `messages` a flat list of
`{messageId, parentMessageId, text | content: [{type: text, text}], sender, isCreatedByUser,
model, createdAt, updatedAt, error, unfinished}`; with `recursive: true` (or as `messagesTree`)
the messages nest in `children` instead. The all-zero uuid is the root's parent. LibreChat keeps
no current branch: the newest leaf becomes current.
"""
from __future__ import annotations

from entities.talk_import import ImportedConversation, ImportedMessage
from use_cases.imports.formats.base import (
    ConversationFormat,
    as_id,
    as_text,
    as_time,
    messages_list,
    required_id,
)

MAX_NESTING = 10_000


def _text(raw: dict) -> str:
    text = as_text(raw.get("text"))
    content = raw.get("content")
    if not text and isinstance(content, list):
        text = "\n".join(as_text(part.get("text")) for part in content
                         if isinstance(part, dict) and part.get("type") == "text"
                         and isinstance(part.get("text"), str))
    return text


def _flatten(items: list, inherited_parent: str | None = None) -> list[tuple[dict, str | None]]:
    """Nested `children` as (message, parent id) pairs, iteratively (no recursion limit)."""
    out: list[tuple[dict, str | None]] = []
    stack = [(item, inherited_parent) for item in reversed(items)]
    while stack:
        item, parent = stack.pop()
        if not isinstance(item, dict):
            continue
        out.append((item, as_id(item.get("parentMessageId")) or parent))
        children = item.get("children")
        if isinstance(children, list):
            stack.extend((child, as_id(item.get("messageId"))) for child in reversed(children))
    return out


class LibreChatFormat(ConversationFormat):
    name = "librechat"

    def detects(self, raw: dict) -> bool:
        return "conversationId" in raw and (isinstance(raw.get("messages"), list)
                                            or isinstance(raw.get("messagesTree"), list))

    def convert(self, raw: dict) -> ImportedConversation:
        items = messages_list(raw, "messagesTree") or messages_list(raw, "messages")
        messages = []
        for index, (item, parent) in enumerate(_flatten(items)):
            user = item.get("isCreatedByUser") is True or as_text(item.get("sender")).lower() == "user"
            status = "failed" if item.get("error") is True else (
                "stopped" if item.get("unfinished") is True else "complete")
            messages.append(ImportedMessage(
                source_id=as_id(item.get("messageId")) or f"#{index}",
                parent_source_id=parent, role="user" if user else "assistant",
                content=_text(item), created_at=as_time(item.get("createdAt")),
                updated_at=as_time(item.get("updatedAt")),
                model=None if user else (as_text(item.get("model")) or None), status=status))
        options: dict = raw["options"] if isinstance(raw.get("options"), dict) else {}
        return ImportedConversation(
            format=self.name, source_id=required_id(raw, "conversationId"),
            title=as_text(raw.get("title")), messages=messages,
            created_at=as_time(raw.get("createdAt")), updated_at=as_time(raw.get("updatedAt")),
            model=as_text(raw.get("model")) or as_text(options.get("model")) or None)
