"""Claude's data export: `conversations.json`, a list of `{uuid, name, created_at, updated_at,
chat_messages: [{uuid, sender: human|assistant, text, content: [{type: text, text}],
created_at, updated_at, attachments: [{file_name, extracted_content}], files: [{file_name}],
parent_message_uuid?}]}`.

Exports with `parent_message_uuid` keep their branches (the all-zero uuid is the root's parent);
without it the messages form one path in their order. `current_leaf_message_uuid`, when given,
is the current leaf; else the newest leaf. Attachments' names are kept in the text, as a line
under the message (their bytes are not in the export).
"""
from __future__ import annotations

from entities.talk_import import ImportedConversation, ImportedMessage
from use_cases.imports.formats.base import (
    ConversationFormat,
    as_id,
    as_list,
    as_text,
    as_time,
    messages_list,
    required_id,
    role_of,
)

ROOT_PARENT = "00000000-0000-4000-8000-000000000000"


def _text(raw: dict) -> str:
    text = as_text(raw.get("text"))
    content = raw.get("content")
    if not text and isinstance(content, list):
        text = "\n".join(as_text(part.get("text")) for part in content
                         if isinstance(part, dict) and part.get("type") == "text")
    names = [as_text(item.get("file_name")) for key in ("attachments", "files")
             for item in as_list(raw.get(key)) if isinstance(item, dict) and item.get("file_name")]
    if names:
        text += "\n\n" + "\n".join(f"[attachment: {name}]" for name in dict.fromkeys(names))
    return text


class ClaudeFormat(ConversationFormat):
    name = "claude"

    def detects(self, raw: dict) -> bool:
        return isinstance(raw.get("chat_messages"), list)

    def convert(self, raw: dict) -> ImportedConversation:
        messages: list[ImportedMessage] = []
        branched = False
        previous: str | None = None
        for index, item in enumerate(messages_list(raw, "chat_messages")):
            if not isinstance(item, dict):
                continue
            role = role_of(item.get("sender"))
            if role not in ("user", "assistant"):
                continue
            source_id = as_id(item.get("uuid")) or f"#{index}"
            parent = as_id(item.get("parent_message_uuid"))
            if "parent_message_uuid" in item:
                branched = True
            messages.append(ImportedMessage(
                source_id=source_id,
                parent_source_id=(None if parent == ROOT_PARENT else parent) if branched
                else previous,
                role=role, content=_text(item), created_at=as_time(item.get("created_at")),
                updated_at=as_time(item.get("updated_at"))))
            previous = source_id
        return ImportedConversation(
            format=self.name, source_id=required_id(raw, "uuid", "id"),
            title=as_text(raw.get("name")), messages=messages,
            created_at=as_time(raw.get("created_at")), updated_at=as_time(raw.get("updated_at")),
            current_leaf_source_id=as_id(raw.get("current_leaf_message_uuid")))
