"""Importing exports of ChatGPT, Claude, LibreChat, Open WebUI and SynapScale through the API:
the right talks, trees and current leaves; a second import skips everything; export -> import
gives the same tree; broken and hostile files get clear errors; reports are private."""
from __future__ import annotations

import io
import json
import time
import zipfile

import pytest
from bson import ObjectId

from tests.support import chat_exports
from tests.support.identity import shared_app

app = shared_app(import_max_bytes=2 * 1024 * 1024, max_file_size=64 * 1024)

WAIT_S = 60  # a generous bound for a background job on a loaded machine (not a speed check)


def start_import(client, session, content: bytes, filename="conversations.json", **fields):
    return client.post("/api/v1/talks/import", headers=session.headers,
                       content_type="multipart/form-data",
                       data={**fields, "file": (io.BytesIO(content), filename)})


def finished(api, session, import_id: str) -> dict:
    deadline = time.monotonic() + WAIT_S
    while True:
        report = api.request("get", f"/api/v1/imports/{import_id}", session).get_json()
        if report["status"] != "running" or time.monotonic() > deadline:
            return report
        time.sleep(0.05)


def imported(api, client, session, content: bytes, filename="conversations.json",
             **fields) -> dict:
    response = start_import(client, session, content, filename, **fields)
    assert response.status_code == 202, response.get_json()
    return finished(api, session, response.get_json()["import_id"])


def document(api, session, talk_id: str) -> dict:
    response = api.request("get", f"/api/v1/talks/{talk_id}/export?format=json", session)
    assert response.status_code == 200
    return json.loads(response.get_data(as_text=True))


def shape(doc: dict) -> tuple[list, list]:
    """(every message as (role, content, status, model, parent's content), the current path's
    contents): a tree compared without its ids."""
    by_id = {m["id"]: m for m in doc["messages"]}
    nodes = sorted((m["role"], m["content"], m["status"], m["model"],
                    by_id[m["parent_id"]]["content"] if m["parent_id"] else None)
                   for m in doc["messages"])
    path, at = [], doc["talk"]["current_leaf_id"]
    while at:
        path.append(by_id[at]["content"])
        at = by_id[at]["parent_id"]
    return nodes, path[::-1]


def test_a_chatgpt_export_with_a_branch_becomes_a_talk_with_its_tree_and_current_leaf(
        api, client):
    alice = api.register()
    report = imported(api, client, alice, chat_exports.as_bytes(chat_exports.chatgpt_export(2)))
    assert report["status"] == "succeeded", report
    assert (report["total"], report["imported"], report["skipped"], report["failed"]) == \
        (2, 2, 0, 0)
    assert [item["source_id"] for item in report["items"]] == ["c-gpt-1", "c-gpt-2"]
    doc = document(api, alice, report["items"][0]["talk_id"])
    nodes, path = shape(doc)
    assert path == ["Hello", "Hi there", "Tell me a joke", "Joke B"]
    assert len(nodes) == 7 and ("user", "Tell me a poem", "complete", None, "Hi there") in nodes
    assert ("assistant", "Joke A", "complete", "gpt-4o", "Tell me a joke") in nodes
    talk = doc["talk"]
    assert talk["name"] == "Talk 1" and talk["source"] == {"format": "chatgpt", "id": "c-gpt-1"}
    assert talk["created_at"] == "2023-11-14T22:13:20.500000Z" and talk["message_count"] == 7
    first = next(m for m in doc["messages"] if m["content"] == "Hello")
    assert first["created_at"] == "2023-11-14T22:13:21Z"
    listed = api.request("get", "/api/v1/talks", alice).get_json()
    assert sorted(t["name"] for t in listed["items"]) == ["Talk 1", "Talk 2"]


def test_a_second_import_of_the_same_export_skips_every_conversation(api, client):
    alice = api.register()
    content = chat_exports.as_bytes(chat_exports.chatgpt_export(2))
    first = imported(api, client, alice, content)
    again = imported(api, client, alice, content)
    assert again["status"] == "succeeded"
    assert (again["imported"], again["skipped"]) == (0, 2)
    assert [i["talk_id"] for i in again["items"]] == [i["talk_id"] for i in first["items"]]
    assert api.request("get", "/api/v1/talks", alice).get_json()["total"] == 2
    bob = api.register()  # idempotent per user: another user imports it for himself
    assert imported(api, client, bob, content)["imported"] == 2


@pytest.mark.parametrize(("build", "filename", "expected"), [
    (lambda: chat_exports.as_bytes(chat_exports.claude_export()), "conversations.json",
     {"Claude linear": ["Summarise this\n\n[attachment: notes.txt]", "A summary"],
      "Claude branched": ["Name a fruit", "Apple"]}),
    (lambda: chat_exports.as_bytes(chat_exports.librechat_export()), "librechat.json",
     {"LibreChat branches": ["First question", "First answer", "Second question, edited",
                             "Edited answer"]}),
    (lambda: chat_exports.as_bytes(chat_exports.openwebui_export()), "chat-export.json",
     {"Sky colour": ["Why is the sky blue?", "Rayleigh scattering."]}),
    (lambda: chat_exports.chatgpt_zip(2), "export.zip",
     {"Zipped 0": ["Hello", "Hi there", "Tell me a joke", "Joke B"],
      "Zipped 1": ["Hello", "Hi there", "Tell me a joke", "Joke B"]}),
    (lambda: chat_exports.as_jsonl(chat_exports.claude_export()), "claude.jsonl",
     {"Claude linear": ["Summarise this\n\n[attachment: notes.txt]", "A summary"],
      "Claude branched": ["Name a fruit", "Apple"]}),
])
def test_each_format_is_detected_and_keeps_its_current_path(api, client, build, filename,
                                                           expected):
    alice = api.register()
    report = imported(api, client, alice, build(), filename)
    assert report["status"] == "succeeded" and report["imported"] == len(expected), report
    paths = {}
    for item in report["items"]:
        doc = document(api, alice, item["talk_id"])
        paths[doc["talk"]["name"]] = shape(doc)[1]
    assert paths == expected


def test_a_librechat_export_keeps_both_branches(api, client):
    alice = api.register()
    report = imported(api, client, alice, chat_exports.as_bytes(chat_exports.librechat_export()),
                      format="librechat")
    nodes, _path = shape(document(api, alice, report["items"][0]["talk_id"]))
    parents = {content: parent for _role, content, _status, _model, parent in nodes}
    assert parents["Second question"] == parents["Second question, edited"] == "First answer"
    assert parents["Edited answer"] == "Second question, edited"


def test_export_then_import_gives_the_same_tree_branches_and_statuses(api, client, db):
    alice = api.register()
    report = imported(api, client, alice, chat_exports.as_bytes(chat_exports.chatgpt_export(1)))
    talk_id = report["items"][0]["talk_id"]
    db.messages.update_one({"talk_id": ObjectId(talk_id), "content": "Joke A"},
                           {"$set": {"status": "superseded", "latency_ms": 812.5, "usage": {
                               "prompt_tokens": 12, "completion_tokens": 7, "cost_usd": 0.25}}})
    original = document(api, alice, talk_id)
    back = imported(api, client, alice, json.dumps(original).encode(), "talk.json")
    assert back["status"] == "succeeded" and back["imported"] == 1, back
    copy = document(api, alice, back["items"][0]["talk_id"])
    assert shape(copy) == shape(original)
    assert copy["talk"]["source"] == {"format": "synapscale", "id": talk_id}
    for field in ("name", "created_at", "model", "tags", "system_prompt", "message_count"):
        assert copy["talk"][field] == original["talk"][field], field
    times = sorted((m["content"], m["created_at"]) for m in original["messages"])
    assert sorted((m["content"], m["created_at"]) for m in copy["messages"]) == times
    assert ("assistant", "Joke A", "superseded", "gpt-4o", "Tell me a joke") in shape(copy)[0]
    joke = next(m for m in copy["messages"] if m["content"] == "Joke A")
    assert joke["usage"] == {"prompt_tokens": 12, "completion_tokens": 7, "total_tokens": 19,
                             "cost_usd": 0.25} and joke["latency_ms"] == 812.5
    again = imported(api, client, alice, json.dumps(original).encode(), "talk.json")
    assert (again["imported"], again["skipped"]) == (0, 1)


def test_an_account_export_zip_downloads_through_a_signed_link_and_imports_back(api, client):
    alice = api.register()
    imported(api, client, alice, chat_exports.as_bytes(chat_exports.chatgpt_export(2)))
    started = api.request("get", "/api/v1/talks/export", alice)
    assert started.status_code == 202
    export_id = started.get_json()["export_id"]
    deadline = time.monotonic() + WAIT_S
    while (status := api.request("get", f"/api/v1/exports/{export_id}", alice).get_json())[
            "status"] == "running" and time.monotonic() < deadline:
        time.sleep(0.05)
    assert status["status"] == "succeeded" and status["exported"] == status["total"] == 2
    bob = api.register()
    assert api.request("get", f"/api/v1/exports/{export_id}", bob).status_code == 404
    path = status["url"].split("://", 1)[1].split("/", 1)[1]
    download = client.get("/" + path)  # no Authorization: the link is the permission
    assert download.status_code == 200 and download.mimetype == "application/zip"
    with zipfile.ZipFile(io.BytesIO(download.data)) as archive:
        names = archive.namelist()
    assert "README.txt" in names and sum(n.startswith("talks/") for n in names) == 2
    assert client.get("/" + path[:-3] + "xyz").status_code == 404
    report = imported(api, client, bob, download.data, "talks.zip")
    assert report["status"] == "succeeded" and report["imported"] == 2, report


def test_an_import_that_finds_nothing_fails_and_says_why(api, client):
    alice = api.register()
    empty = imported(api, client, alice, b"[]")
    assert empty["status"] == "failed" and empty["error"] == "No conversations found in the file"
    unknown = imported(api, client, alice, json.dumps([{"hello": "world"}]).encode())
    assert unknown["status"] == "failed" and unknown["failed"] == 1
    assert unknown["items"][0]["error"] == "Not a conversation of a known format"


def test_one_bad_conversation_fails_alone_and_a_broken_file_keeps_what_came_before(api, client):
    alice = api.register()
    good = chat_exports.chatgpt_conversation("ok-1")
    no_id = {**chat_exports.chatgpt_conversation(), "id": None, "conversation_id": None}
    report = imported(api, client, alice, json.dumps([no_id, good]).encode())
    assert report["status"] == "succeeded" and (report["imported"], report["failed"]) == (1, 1)
    assert "no id" in report["items"][0]["error"]
    path = f"/api/v1/imports/{report['id']}"
    failed_only = api.request("get", path + "?items=failed", alice).get_json()
    assert [i["status"] for i in failed_only["items"]] == ["failed"]
    counters = api.request("get", path + "?items=none", alice).get_json()
    assert counters["items"] == [] and counters["imported"] == 1
    broken = json.dumps([chat_exports.chatgpt_conversation("ok-2")]).encode()[:-1] + b', {"id'
    cut = imported(api, client, alice, broken)
    assert cut["status"] == "failed" and cut["imported"] == 1
    assert "not valid JSON" in cut["error"]


def test_a_long_report_is_read_a_page_at_a_time(api, client):
    """A report of many conversations is never read whole: `limit` items from `offset`."""
    alice = api.register()
    report = imported(api, client, alice, chat_exports.as_bytes(chat_exports.chatgpt_export(5)))
    path = f"/api/v1/imports/{report['id']}"
    first = api.request("get", path + "?limit=2", alice).get_json()
    assert [i["source_id"] for i in first["items"]] == ["c-gpt-1", "c-gpt-2"]
    assert first["next_offset"] == 2 and first["total"] == 5
    rest = api.request("get", f"{path}?offset={first['next_offset']}", alice).get_json()
    assert [i["source_id"] for i in rest["items"]] == ["c-gpt-3", "c-gpt-4", "c-gpt-5"]
    assert rest["next_offset"] is None
    for bad in ("limit=0", "limit=101", "offset=-1"):
        assert api.request("get", f"{path}?{bad}", alice).status_code == 422


def test_an_export_larger_than_max_file_size_is_accepted_up_to_import_max_bytes(api, client):
    alice = api.register()
    big = [chat_exports.chatgpt_conversation(f"big-{n}") for n in range(400)]
    content = chat_exports.as_bytes(big)
    assert 1024 * 1024 + 64 * 1024 < len(content) < 2 * 1024 * 1024
    report = imported(api, client, alice, content)
    assert report["status"] == "succeeded" and report["imported"] == 400


def test_bad_requests_are_refused_before_any_job_starts(api, client, db):
    alice = api.register()
    not_json = start_import(client, alice, b"hello", "notes.txt")
    assert not_json.status_code == 422
    assert start_import(client, alice, b"[]", format="myspace").status_code == 422
    bomb = io.BytesIO()
    with zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("conversations.json", b"[" + b" " * (8 * 1024 * 1024) + b"]")
    refused = start_import(client, alice, bomb.getvalue(), "export.zip")
    assert refused.status_code == 422 and "zip bomb" in refused.get_json()["error"]["message"]
    too_big = start_import(client, alice, b"[" + b" " * (3 * 1024 * 1024) + b"]")
    assert too_big.status_code == 413
    assert db.imports.count_documents({"user_id": ObjectId(alice.id)}) == 0


def test_another_user_cannot_read_an_imports_report(api, client):
    alice, bob = api.register(), api.register()
    report = imported(api, client, alice, chat_exports.as_bytes(chat_exports.chatgpt_export(1)))
    response = api.request("get", f"/api/v1/imports/{report['id']}", bob)
    assert response.status_code == 404 and response.get_json()["error"]["code"] == "not_found"


def test_an_import_whose_worker_died_is_failed_when_read(api, client, db):
    alice = api.register()
    report = imported(api, client, alice, chat_exports.as_bytes(chat_exports.chatgpt_export(1)))
    job = {"_id": ObjectId(report["id"])}
    db.imports.update_one(job, {"$set": {"status": "running",
                                         "lease_until": db.imports.find_one(job)["created_at"]}})
    again = api.request("get", f"/api/v1/imports/{report['id']}", alice).get_json()
    assert again["status"] == "failed" and "Import the file again" in again["error"]


def test_progress_reaches_the_users_feed(api, client, db):
    alice = api.register()
    report = imported(api, client, alice, chat_exports.as_bytes(chat_exports.chatgpt_export(1)))
    events = [e["event"] for e in db.events.find({"topic": f"user:{alice.id}"})]
    finished_events = [e for e in events if e["type"] == "import.finished"]
    assert finished_events[-1]["import"]["id"] == report["id"]
    assert finished_events[-1]["import"]["imported"] == 1


def test_an_agents_tool_calls_and_results_survive_export_and_import(api, client):
    """An agent's reply chain user -> assistant(tool_calls) -> tool -> answer; a streamed reply is
    stored before the tool messages it follows, so its document lists it first."""
    alice = api.register()
    at = "2026-11-30T10:00:0{}Z"
    messages = [
        {"id": "u", "role": "user", "content": "Weather in Lisbon?", "parent_id": None,
         "status": "complete", "created_at": at.format(1)},
        {"id": "a2", "role": "assistant", "content": "21 degrees.", "parent_id": "t",
         "status": "complete", "model": "gpt-4o", "created_at": at.format(2)},
        {"id": "a1", "role": "assistant", "content": "", "parent_id": "u", "status": "complete",
         "model": "gpt-4o", "created_at": at.format(3),
         "tool_calls": [{"id": "call_1", "name": "weather", "arguments": '{"q": "Lisbon"}'}]},
        {"id": "t", "role": "tool", "content": '{"temperature_c": 21}', "parent_id": "a1",
         "status": "complete", "tool_call_id": "call_1", "name": "weather",
         "created_at": at.format(4)},
    ]
    for message in messages:
        message.setdefault("model", None)
    original = {"format": "synapscale", "version": 1, "exported_at": at.format(5),
                "talk": {"id": "agent-talk", "name": "Weather", "current_leaf_id": "a2"},
                "messages": messages}
    report = imported(api, client, alice, json.dumps(original).encode(), "talk.json")
    assert report["status"] == "succeeded" and report["imported"] == 1, report
    talk_id = report["items"][0]["talk_id"]
    path = api.request("get", f"/api/v1/talks/{talk_id}/messages", alice).get_json()["items"]
    assert [m["role"] for m in path] == ["user", "assistant", "tool", "assistant"]
    assert path[1]["tool_calls"] == [{"id": "call_1", "name": "weather",
                                      "arguments": '{"q": "Lisbon"}'}]
    assert (path[2]["tool_call_id"], path[2]["name"]) == ("call_1", "weather")
    exported = document(api, alice, talk_id)
    assert shape(exported) == shape(original)
    bob = api.register()
    again = document(api, bob, imported(api, client, bob, json.dumps(exported).encode(),
                                        "talk.json")["items"][0]["talk_id"])
    assert shape(again) == shape(original)
    assert [m.get("tool_calls") for m in again["messages"]] == \
        [m.get("tool_calls") for m in exported["messages"]]


@pytest.mark.parametrize("settings_overrides", [{"ratelimit_llm": "2 per minute",
                                                 "import_max_jobs": 10}])
def test_account_exports_are_rate_limited_per_user(mongo_uri, settings_overrides):
    from app import create_app, shutdown
    from tests.conftest import make_settings
    from tests.support.api import ApiClient

    settings = make_settings(mongo_uri, **settings_overrides)
    application = create_app(settings)
    try:
        api = ApiClient(application.test_client())
        alice, bob = api.register(), api.register()
        statuses = [api.request("POST", "/api/v1/talks/export", alice).status_code
                    for _ in range(3)]
        assert statuses == [202, 202, 429]
        assert api.request("POST", "/api/v1/talks/export", bob).status_code == 202
    finally:
        shutdown(application.extensions["synapscale"])
        application.extensions["synapscale"].client.drop_database(settings.mongodb_database)
