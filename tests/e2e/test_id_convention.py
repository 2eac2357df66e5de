"""Issue 17 #5: one id convention. After a scenario that touches every collection, each field that
refers to another document (`*_id`, `*_ids`, `created_by`...) holds one BSON type in every
document: ObjectId, but for the kinds of ids that are not ObjectIds by nature (listed in
data/migrations/0001_references_as_object_ids.py). `flask --app app migrate` brings data stored
by the previous version (string references) to that convention, and running it again changes
nothing."""
from __future__ import annotations

import importlib.util
import io
from collections import defaultdict

import pytest
from bson import ObjectId

from data.id_conversion import convert_references
from data.migrate import MIGRATIONS_DIR
from tests.support.fixtures import MOCK_DEFAULT_MODEL
from tests.support.gateway import bearer, create_key
from tests.support.identity import add_member
from tests.support.webhook_receiver import WebhookReceiver
from tests.support.workflows import create_workflow, execute, greeting_workflow

REFERENCE_NAMES = ("created_by", "updated_by", "uploaded_by")
# (collection, path) -> the BSON types it holds instead of ObjectId, and why
NOT_OBJECT_IDS = {
    ("files", "versions.blob_id"): {"string"},  # a GridFS ObjectId's hex or "s3:<key>"
    ("idempotency_keys", "claim_id"): {"string"},  # a request's claim (UUID)
    ("webhook_deliveries", "event_id"): {"string"},  # the event id receivers see (UUID)
    ("spend", "ref_id"): {"string"},  # a counter key: "<workspace id>:<user id>" for members
    ("executions", "worker_id"): {"string"},  # a worker process's name
    ("executions", "node_runs.node_id"): {"string"},  # the graph's own node names
    ("audit_log", "target_id"): {"objectId", "string"},  # a provider key's target: its name
}
# the event bus (payloads as clients receive them, kept an hour) and the rate limiter's keys
NOT_WALKED = ("events",)
# keyed by the id of the document they count for
KEYED_BY_REFERENCE = ("storage_usage",)
# ObjectIds before this convention: GridFS's own layout
ALWAYS_OBJECT_IDS = {("file_blobs.chunks", "files_id")}
# references added by later migrations, written as ObjectIds from the start
ADDED_AFTER_0001 = {("talks", "current_leaf_id")}  # 0002_message_trees


def migration_module():
    spec = importlib.util.spec_from_file_location(
        "references_migration", MIGRATIONS_DIR / "0001_references_as_object_ids.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def settings_overrides():
    return {"outbound_allowlist": ("127.0.0.1",), "webhook_poll_interval_s": 0.05}


@pytest.fixture
def receiver():
    server = WebhookReceiver()
    yield server
    server.close()


def is_reference(name: str) -> bool:
    return name.endswith(("_id", "_ids")) or name in REFERENCE_NAMES


def bson_type(value) -> str:
    return {ObjectId: "objectId", str: "string", type(None): "null"}.get(type(value),
                                                                         type(value).__name__)


def walk(value, path: str, found: dict) -> None:
    if isinstance(value, dict):
        for name, item in value.items():
            child = f"{path}.{name}" if path else name
            if is_reference(name):
                items = item if isinstance(item, list) else [item]
                found[child] |= {bson_type(element) for element in items}
            walk(item, child, found)
    elif isinstance(value, list):
        for item in value:
            walk(item, path, found)


def reference_types(db) -> dict[tuple[str, str], set[str]]:
    """(collection, dotted path) -> the BSON types found there, over every document."""
    found: dict[tuple[str, str], set[str]] = defaultdict(set)
    for collection in db.list_collection_names():
        if collection in NOT_WALKED or collection.startswith("limits"):
            continue
        for doc in db[collection].find():
            paths: dict[str, set[str]] = defaultdict(set)
            walk({k: v for k, v in doc.items() if k != "_id"}, "", paths)
            if collection in KEYED_BY_REFERENCE:
                paths["_id"].add(bson_type(doc["_id"]))
            for path, types in paths.items():
                found[(collection, path)] |= types
    return found


def assert_one_convention(db) -> dict[tuple[str, str], set[str]]:
    found = reference_types(db)
    wrong = {key: types for key, types in found.items()
             if types - {"null"} - NOT_OBJECT_IDS.get(key, {"objectId"})}
    assert wrong == {}
    return found


def upload(client, session, workspace_id: str, filename: str, content: bytes) -> dict:
    response = client.post("/api/v1/files/upload", headers=session.headers,
                           content_type="multipart/form-data",
                           data={"workspace_id": workspace_id, "file": (io.BytesIO(content), filename)})
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def touch_every_collection(api, client, receiver) -> dict:
    """Register, workspaces and members, talks with replies and files, files with versions,
    workflows and their runs, templates rated and installed, API keys and /v1 calls (usage,
    spend, stored responses), webhooks and deliveries, provider keys, password resets,
    idempotent sends. What it made, by name."""
    owner, member = api.register(), api.register()
    team = api.request("post", "/api/v1/workspaces", owner, json={"name": "Team"}).get_json()
    webhook = api.request("post", f"/api/v1/workspaces/{team['id']}/webhooks", owner,
                          json={"url": receiver.url, "events": ["member.added"]})
    assert webhook.status_code == 201, webhook.get_json()
    add_member(api, owner, team["id"], member, "member")
    assert api.request("put", f"/api/v1/workspaces/{team['id']}/providers/anthropic", owner,
                       json={"api_key": "sk-ant-test-000000000001"}).status_code == 200
    file = upload(client, owner, team["id"], "notes.txt", b"some notes\n")
    assert client.post(f"/api/v1/files/{file['id']}/versions", headers=owner.headers,
                       content_type="multipart/form-data",
                       data={"file": (io.BytesIO(b"newer notes\n"), "notes.txt")}).status_code == 201
    talk = api.request("post", "/api/v1/talks", owner,
                       json={"name": "Plans", "workspace_id": team["id"]}).get_json()
    sent = api.request("post", f"/api/v1/talks/{talk['id']}/messages", owner,
                       headers={"Idempotency-Key": "send-once"},
                       json={"content": "read this", "file_ids": [file["id"]]})
    assert sent.status_code in (200, 201), sent.get_json()
    streamed = client.post(f"/api/v1/talks/{talk['id']}/messages", json={"content": "more", "stream": True},
                           headers={**owner.headers, "Idempotency-Key": "stream-once"})
    assert streamed.status_code == 200 and "event: done" in streamed.get_data(as_text=True)
    workflow = create_workflow(api, owner, greeting_workflow(), team["id"])
    assert execute(api, owner, workflow["id"], {"name": "Ann"}).status_code in (200, 201)
    template = api.request("post", f"/api/v1/workflows/{workflow['id']}/publish", owner,
                           json={"title": "Greeter", "description": "Hi", "tags": ["hi"]}).get_json()
    api.request("post", f"/api/v1/templates/{template['id']}/ratings", member, json={"stars": 4})
    api.request("post", f"/api/v1/templates/{template['id']}/install", member, json={})
    key = create_key(api, owner, team["id"], monthly_budget_usd=5)
    assert client.post("/v1/responses", headers=bearer(key["key"]),
                       json={"model": MOCK_DEFAULT_MODEL, "input": "hi"}).status_code == 200
    assert client.post("/v1/chat/completions", headers=bearer(key["key"]), json={
        "model": MOCK_DEFAULT_MODEL, "messages": [{"role": "user", "content": "hi"}]}).status_code == 200
    client.post("/api/v1/auth/password-reset", json={"email": member.user["email"]})
    return {"owner": owner, "member": member, "team": team, "talk": talk, "file": file,
            "workflow": workflow, "key": key}


def flush(app) -> None:
    app.extensions["synapscale"].usage.flush()


def test_every_reference_field_holds_one_type_in_every_collection(app, api, client, db, receiver,
                                                                  mock_provider):
    touch_every_collection(api, client, receiver)
    flush(app)
    found = assert_one_convention(db)
    # the scenario reached what it is about (a walk over nothing would pass too)
    for key in [("talks", "user_id"), ("talks", "workspace_id"), ("messages", "talk_id"),
                ("messages", "parent_id"), ("messages", "file_ids"), ("usage", "talk_id"),
                ("usage", "api_key_id"), ("memberships", "user_id"), ("workspaces", "owner_ids"),
                ("files", "versions.uploaded_by"), ("executions", "workflow_id"),
                ("workflow_template_ratings", "template_id"), ("webhook_deliveries", "webhook_id"),
                ("responses", "api_key_id"), ("idempotency_keys", "refs.talk_id"),
                ("api_keys", "created_by"), ("provider_keys", "updated_by"),
                ("one_time_tokens", "user_id"), ("sessions", "user_id"), ("audit_log", "actor_id"),
                ("storage_usage", "_id")]:
        assert "objectId" in found.get(key, set()), key
    # and the migration converts every reference the app writes
    migration = migration_module()
    migrated = {(collection, path) for collection, paths in migration.REFERENCES.items()
                for path in paths} | {(c, "_id") for c in migration.KEYED_COUNTERS}
    written = {key for key, types in found.items() if "objectId" in types}
    assert written - migrated - ALWAYS_OBJECT_IDS - ADDED_AFTER_0001 == set()


def snapshot(db) -> dict:
    return {name: list(db[name].find().sort("_id", 1)) for name in db.list_collection_names()
            if name not in NOT_WALKED and name != "migrations"
            # rate-limit counters: written by the limiter's background sync at any moment
            and not name.startswith(("limits", "ratelimit"))}


def test_migrate_converts_string_references_in_place_and_a_second_run_changes_nothing(
        app, api, client, db, receiver, mock_provider):
    made = touch_every_collection(api, client, receiver)
    flush(app)
    # the previous version's data: references as strings, no migration recorded
    migration_module().downgrade(db)
    assert isinstance(db.talks.find_one()["user_id"], str)
    assert isinstance(db.storage_usage.find_one()["_id"], str)
    assert isinstance(db.files.find_one()["versions"][0]["uploaded_by"], str)
    db.audit_log.insert_one({"action": "legacy", "actor_id": "not-an-id", "workspace_id": None})

    runner = app.test_cli_runner()
    first = runner.invoke(args=["migrate"])
    assert first.exit_code == 0, first.output
    assert "2 migration(s) run" in first.output and "0001_references_as_object_ids: applied" in first.output
    assert "0002_message_trees: applied" in first.output
    assert "talks: 1 document(s) converted" in first.output and "messages: 4 document(s)" in first.output
    assert_one_convention_but_legacy(db)
    after_first = snapshot(db)

    second = runner.invoke(args=["migrate"])
    assert second.exit_code == 0, second.output
    assert "already up to date" in second.output
    assert snapshot(db) == after_first
    db.migrations.drop()  # even with its record lost, a run finds nothing left to convert
    third = runner.invoke(args=["migrate"])
    assert third.exit_code == 0 and "talks: 0 document(s) converted" in third.output
    assert snapshot(db) == after_first

    # the app reads what was converted
    owner, team = made["owner"], made["team"]
    talks = api.request("get", f"/api/v1/talks?workspace_id={team['id']}", owner).get_json()
    assert [t["id"] for t in talks["items"]] == [made["talk"]["id"]]
    messages = api.request("get", f"/api/v1/talks/{made['talk']['id']}/messages", owner).get_json()
    first_send, reply = messages["items"][:2]
    assert first_send["file_ids"] == [made["file"]["id"]] and reply["parent_id"] == first_send["id"]
    workspaces = api.request("get", "/api/v1/workspaces", made["member"]).get_json()
    assert team["id"] in [w["id"] for w in workspaces["items"]]
    assert api.request("get", f"/api/v1/files/{made['file']['id']}", owner).status_code == 200


def assert_one_convention_but_legacy(db) -> None:
    """The one convention, but for the value that is not an id (kept, and reported)."""
    legacy = db.audit_log.find_one({"action": "legacy"})
    assert legacy["actor_id"] == "not-an-id"
    db.audit_log.delete_one({"_id": legacy["_id"]})
    try:
        assert_one_convention(db)
    finally:
        db.audit_log.insert_one(legacy)


def test_a_conversion_works_in_batches_and_leaves_documents_changed_meanwhile_to_a_later_pass(db):
    users = [ObjectId() for _ in range(7)]
    db.sessions.insert_many([{"user_id": str(user), "n": n} for n, user in enumerate(users)])
    db.sessions.insert_one({"user_id": "not-an-id", "n": 7})
    outcome = convert_references(db, "sessions", ["user_id"], batch=2)
    assert (outcome.converted, outcome.skipped) == (7, ["not-an-id"])
    assert [doc["user_id"] for doc in db.sessions.find().sort("n", 1)][:7] == users
    again = convert_references(db, "sessions", ["user_id"], batch=2)
    assert again.converted == 0
    back = convert_references(db, "sessions", ["user_id"], to_objectid=False, batch=3)
    assert back.converted == 7 and db.sessions.count_documents({"user_id": {"$type": "string"}}) == 8
