"""Every reference to another document's `_id` stored as an ObjectId (issue 17).

Before this version most references were id strings (`talks.user_id`, `messages.parent_id`,
`usage.talk_id`...) while a few were ObjectIds (`messages.talk_id`, `idempotency_keys.user_id`):
a search by one type in Mongo Express missed the other. Upgrading converts the strings in place;
downgrading turns them back into strings (what the previous version reads).

The fields are listed here, as they were at this version, rather than read from the repositories:
a migration must keep doing what it did when later versions change the code.

Not converted, because they are not ObjectIds by nature (they stay strings):
- `files.versions.blob_id`, `extracted_texts._id`, `released_blobs._id`: blob ids, a GridFS
  ObjectId's hex or an S3 key ("s3:..."), one field for both storages;
- `responses._id`: OpenAI-style "resp_..." ids; `idempotency_keys.key`, `.claim_id`: client keys
  and request claims; `webhook_deliveries.event_id`: the event id receivers see (a UUID);
- `spend._id`, `spend.ref_id`, `spend.holds.id`: counter keys ("workspace:<id>:2026-11", a member's
  "<workspace id>:<user id>") and hold UUIDs;
- `executions.worker_id` (a process name), `executions.node_runs.node_id` and graph node ids
  (user-chosen names), `usage.provider` and `usage.model`, `provider_keys.provider`;
- `events` (the event bus: payloads as clients receive them, kept an hour) and the rate
  limiter's collections (the limits library's keys).
`audit_log.target_id` holds a document's id (converted) or, for provider keys, the provider's
name (a string).
"""
from __future__ import annotations

from pymongo.database import Database

from data.id_conversion import convert_references, rekey_counters

name = "0001_references_as_object_ids"
dependencies: list[str] = []

REFERENCES: dict[str, tuple[str, ...]] = {
    "workspaces": ("owner_id", "owner_ids"),
    "memberships": ("workspace_id", "user_id"),
    "talks": ("user_id", "workspace_id", "generating.message_id"),
    "messages": ("talk_id", "workspace_id", "user_id", "parent_id", "file_ids"),
    "api_keys": ("workspace_id", "created_by"),
    "sessions": ("user_id",),
    "one_time_tokens": ("user_id",),
    "provider_keys": ("workspace_id", "updated_by"),
    "audit_log": ("actor_id", "target_id", "workspace_id"),
    "files": ("workspace_id", "owner_id", "versions.uploaded_by"),
    "workflows": ("workspace_id", "created_by"),
    "executions": ("workflow_id", "workspace_id", "created_by"),
    "workflow_templates": ("author_id", "source_workflow_id"),
    "workflow_template_ratings": ("template_id", "user_id"),
    "webhooks": ("workspace_id", "created_by"),
    "webhook_deliveries": ("webhook_id", "workspace_id"),
    "usage": ("workspace_id", "user_id", "talk_id", "api_key_id"),
    "responses": ("workspace_id", "user_id", "api_key_id"),
    "idempotency_keys": ("user_id", "refs.talk_id", "refs.user_message_id", "refs.message_id"),
}
# counters keyed by the workspace's id
KEYED_COUNTERS = {"storage_usage": "bytes"}


def _run(db: Database, to_objectid: bool) -> None:
    for collection, paths in REFERENCES.items():
        convert_references(db, collection, paths, to_objectid)
    for collection, counter in KEYED_COUNTERS.items():
        rekey_counters(db, collection, counter, to_objectid)


def upgrade(db: Database) -> None:
    _run(db, to_objectid=True)


def downgrade(db: Database) -> None:
    _run(db, to_objectid=False)
