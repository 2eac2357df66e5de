"""Open WebUI's chat export (Settings -> Chats -> Export, or one chat's JSON): a list of
`{id, title, chat: {title, models, history: {messages: {id: {id, parentId, childrenIds, role,
content, timestamp, model}}, currentId}, messages?}, created_at, updated_at, archived, pinned}`
(times in epoch seconds). `history.currentId` is the current leaf.
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
    role_of,
)


def _chat(raw: dict) -> dict:
    chat = raw.get("chat")
    return chat if isinstance(chat, dict) else {}


class OpenWebUIFormat(ConversationFormat):
    name = "openwebui"

    def detects(self, raw: dict) -> bool:
        return isinstance(_chat(raw).get("history"), dict)

    def convert(self, raw: dict) -> ImportedConversation:
        chat = _chat(raw)
        history = chat.get("history")
        if not isinstance(history, dict) or not isinstance(history.get("messages", {}), dict):
            raise ValidationFailed("`chat.history.messages` is not an object")
        messages = []
        for key, item in (history.get("messages") or {}).items():
            if not isinstance(item, dict):
                continue
            role = role_of(item.get("role"))
            if role is None:
                continue
            content = item.get("content")
            if isinstance(content, list):
                content = "\n".join(as_text(part.get("text")) for part in content
                                    if isinstance(part, dict))
            messages.append(ImportedMessage(
                source_id=as_id(item.get("id")) or str(key),
                parent_source_id=as_id(item.get("parentId")), role=role,
                content=as_text(content), created_at=as_time(item.get("timestamp")),
                model=(as_text(item.get("model")) or None) if role == "assistant" else None,
                status="failed" if item.get("error") else "complete"))
        models: list = chat["models"] if isinstance(chat.get("models"), list) else []
        return ImportedConversation(
            format=self.name, source_id=required_id(raw, "id") if raw.get("id") else
            required_id(chat, "id"),
            title=as_text(raw.get("title")) or as_text(chat.get("title")), messages=messages,
            created_at=as_time(raw.get("created_at") or chat.get("timestamp")),
            updated_at=as_time(raw.get("updated_at")),
            model=next((m for m in models if isinstance(m, str)), None),
            archived=raw.get("archived") is True, pinned=raw.get("pinned") is True,
            current_leaf_source_id=as_id(history.get("currentId")))
