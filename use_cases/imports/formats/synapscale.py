"""SynapScale's own export format, version 1: one talk, its whole message tree.

```json
{
  "format": "synapscale",
  "version": 1,
  "exported_at": "2026-11-30T12:00:00Z",
  "talk": {"id", "workspace_id", "name", "model", "system_prompt", "tags", "archived",
           "pinned", "message_count", "last_message_at", "created_at", "updated_at",
           "current_leaf_id", "source": {"format", "id"} | null},
  "messages": [{"id", "talk_id", "role": "user|assistant|system|tool", "content",
                "status": "complete|failed|stopped|superseded", "model", "parent_id",
                "file_ids", "usage", "latency_ms", "error", "created_at", "updated_at",
                "attachments"?: [{"id", "filename", "content_type", "size"}],
                "tool_calls"?: [{"id", "name", "arguments"}], "tool_call_id"?, "name"?}]
}
```

`talk` and each message are exactly what the API returns for them (GET /talks/{id},
GET /talks/{id}/messages), so the document grows with the API; a message with files adds
`attachments`, naming each file (null fields: a file since removed). Every message of the tree
is there (every branch), parents first; `parent_id` links them and `current_leaf_id` names the
branch shown. Times are ISO 8601 UTC.

Versioning: a later version only adds fields; readers ignore fields they do not know and refuse
a `version` above theirs. Importing a document gives a talk with the same tree (new ids, the
parents mapped to them), roles, contents, statuses, models, errors, times, name, tags, system
prompt and current leaf; its `source` is `{format: "synapscale", id: talk.id}`, so importing the
same document again skips it. Attachments keep their file ids when those files are in the
workspace imported into (their bytes are never in the document). An agent's messages keep their
tool calls (`tool_calls`) and results (role `tool`, `tool_call_id`, `name`). Messages of a role
this server does not store are left out, their children attached to the nearest message kept.
"""
from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from entities.clock import iso_utc
from entities.errors import ValidationFailed
from entities.talk import MessageStatus
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

FORMAT = "synapscale"
VERSION = 1
MAX_TOOL_CALLS = 128  # per message, as many as an agent may be offered
MAX_TOOL_CALLS_CHARS = 1_000_000  # a message's calls together (a stored message is <16 MiB)
STATUSES = {status.value for status in MessageStatus} - {MessageStatus.STREAMING.value}


def document(talk: dict, messages: Iterable[dict], exported_at: datetime) -> dict:
    """A version-1 document from the API forms of a talk and of its messages (parents first;
    a message with files carries `attachments`)."""
    return {"format": FORMAT, "version": VERSION, "exported_at": iso_utc(exported_at),
            "talk": talk, "messages": list(messages)}


def _number(value: object) -> float | None:
    if isinstance(value, int | float) and not isinstance(value, bool) and value >= 0:
        return float(value)
    return None


def _usage(value: object) -> tuple[int, int, float] | None:
    if not isinstance(value, dict):
        return None
    prompt, completion = _number(value.get("prompt_tokens")), _number(value.get("completion_tokens"))
    cost = _number(value.get("cost_usd"))
    if prompt is None or completion is None:
        return None
    return int(prompt), int(completion), cost or 0.0


def _tool_calls(value: object) -> list[dict[str, str]] | None:
    """An agent message's `[{id, name, arguments}]` (arguments: JSON text), or None."""
    if not isinstance(value, list) or not value:
        return None
    if len(value) > MAX_TOOL_CALLS or not all(isinstance(call, dict) for call in value):
        raise ValidationFailed("`tool_calls` is not a list of at most "
                               f"{MAX_TOOL_CALLS} calls")
    calls = [{"id": as_text(call.get("id")), "name": as_text(call.get("name")),
              "arguments": as_text(call.get("arguments"))} for call in value]
    if sum(len(text) for call in calls for text in call.values()) > MAX_TOOL_CALLS_CHARS:
        raise ValidationFailed(f"`tool_calls` hold more than {MAX_TOOL_CALLS_CHARS} characters")
    return calls


class SynapScaleFormat(ConversationFormat):
    name = FORMAT

    def detects(self, raw: dict) -> bool:
        return raw.get("format") == FORMAT

    def convert(self, raw: dict) -> ImportedConversation:
        version = raw.get("version")
        if not isinstance(version, int) or isinstance(version, bool) or version < 1:
            raise ValidationFailed("`version` is missing or not a positive integer")
        if version > VERSION:
            raise ValidationFailed(f"Version {version} of the synapscale format is newer than "
                                   f"this server reads ({VERSION})")
        talk = raw.get("talk")
        if not isinstance(talk, dict):
            raise ValidationFailed("`talk` is not an object")
        messages = []
        skipped: dict[str, str | None] = {}  # a message of a role not stored here: its parent
        for item in messages_list(raw, "messages"):
            if not isinstance(item, dict):
                raise ValidationFailed("A message is not an object")
            role = "tool" if item.get("role") == "tool" else role_of(item.get("role"))
            source_id = as_id(item.get("id"))
            if source_id is None:
                raise ValidationFailed("A message has no id")
            if role is None:
                skipped[source_id] = as_id(item.get("parent_id"))
                continue
            status = as_text(item.get("status"), "complete")
            messages.append(ImportedMessage(
                source_id=source_id, parent_source_id=as_id(item.get("parent_id")), role=role,
                content=as_text(item.get("content")), created_at=as_time(item.get("created_at")),
                updated_at=as_time(item.get("updated_at")),
                model=as_text(item.get("model")) or None,
                status=status if status in STATUSES else "failed",
                error=as_text(item.get("error")) or None,
                error_code=as_text(item.get("error_code")) or None,
                file_ids=[file_id for file_id in map(as_id, as_list(item.get("file_ids")))
                          if file_id],
                usage=_usage(item.get("usage")), latency_ms=_number(item.get("latency_ms")),
                tool_calls=_tool_calls(item.get("tool_calls")),
                tool_call_id=as_text(item.get("tool_call_id")) or None if role == "tool" else None,
                name=as_text(item.get("name")) or None if role == "tool" else None))
        for message in messages:  # past skipped messages to the nearest kept ancestor
            hops = 0
            while message.parent_source_id in skipped and hops <= len(skipped):
                message.parent_source_id = skipped[message.parent_source_id]
                hops += 1
        tags: list = talk["tags"] if isinstance(talk.get("tags"), list) else []
        return ImportedConversation(
            format=self.name, source_id=required_id(talk, "id"),
            title=as_text(talk.get("name")), messages=messages,
            created_at=as_time(talk.get("created_at")), updated_at=as_time(talk.get("updated_at")),
            model=as_text(talk.get("model")) or None,
            system_prompt=as_text(talk.get("system_prompt")) or None,
            tags=[tag for tag in tags if isinstance(tag, str)][:50],
            archived=talk.get("archived") is True, pinned=talk.get("pinned") is True,
            current_leaf_source_id=as_id(talk.get("current_leaf_id")))
