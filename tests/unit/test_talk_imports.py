"""The import use case on fakes: who may import where, what a job leaves behind, what it keeps
of a conversation, and the export of everything."""
from __future__ import annotations

import io
import json
import os
import time
import zipfile

import pytest

from entities.errors import Forbidden, NotFound, ServiceUnavailable, ValidationFailed
from entities.workspace import WorkspaceRole
from tests.fakes.gateway import MODEL
from tests.fakes.imports import ImportWorld
from tests.support import chat_exports
from use_cases.imports.background import BackgroundJobs


@pytest.fixture
def world(tmp_path):
    return ImportWorld(spool_dir=tmp_path)


def start(world, user_id, content: bytes, workspace_id=None, fmt=None, name="export.json"):
    return world.imports.start(user_id, workspace_id, fmt, name, iter([content]))


def test_an_import_reports_each_conversation_and_leaves_no_spooled_file(world, tmp_path):
    alice = world.talk_world.user("alice@example.com")
    job = start(world, alice, chat_exports.as_bytes(chat_exports.chatgpt_export(2)))
    job, items, _next = world.imports.status(alice, job.id)
    assert (job.status.value, job.total, job.imported) == ("succeeded", 2, 2)
    assert [item.status.value for item in items] == ["imported", "imported"]
    assert list(tmp_path.iterdir()) == []
    talk = world.talk_world.talks.visible(alice, items[0].talk_id)
    assert talk.source.format == "chatgpt" and talk.current_leaf_id is not None
    leaf = world.talk_world.message_repo.get(talk.current_leaf_id, talk.id)
    assert leaf.content == "Joke B" and leaf.model == "gpt-4o-mini"


def test_a_viewer_cannot_import_into_a_workspace_and_a_stranger_does_not_see_it(world, tmp_path):
    identity = world.talk_world.identity
    bob = identity.actor("bob@example.com")
    alice = identity.actor("alice@example.com").user_id
    carol = identity.actor("carol@example.com").user_id
    team, _ = identity.workspaces.create(bob, "Team")
    identity.workspaces.add_member(bob, team.id, "alice@example.com", WorkspaceRole.VIEWER)
    content = chat_exports.as_bytes(chat_exports.chatgpt_export(1))
    with pytest.raises(Forbidden):
        start(world, alice, content, workspace_id=team.id)
    with pytest.raises(NotFound):
        start(world, carol, content, workspace_id=team.id)
    assert list(tmp_path.iterdir()) == [] and world.import_jobs.collection.count_documents({}) == 0


def test_a_file_that_is_not_an_export_is_refused_and_nothing_stays(world, tmp_path):
    alice = world.talk_world.user("alice@example.com")
    with pytest.raises(ValidationFailed):
        start(world, alice, b"not json at all")
    with pytest.raises(ValidationFailed, match="Unknown import format"):
        start(world, alice, b"[]", fmt="icq")
    assert list(tmp_path.iterdir()) == [] and world.import_jobs.collection.count_documents({}) == 0


def test_imports_beyond_the_process_limit_are_refused_with_503(world):
    alice = world.talk_world.user("alice@example.com")
    world.imports.runner.reserve()
    world.imports.runner.reserve()
    with pytest.raises(ServiceUnavailable):
        start(world, alice, b"[]")


def test_a_models_name_is_kept_on_messages_and_on_the_talk_only_when_the_catalogue_has_it(world):
    alice = world.talk_world.user("alice@example.com")
    known = {**chat_exports.chatgpt_conversation("known"), "default_model_slug": MODEL}
    job = start(world, alice, json.dumps([known, chat_exports.chatgpt_conversation()]).encode())
    _job, items, _next = world.imports.status(alice, job.id)
    talks = [world.talk_world.talks.visible(alice, item.talk_id) for item in items]
    assert [talk.model for talk in talks] == [MODEL, None]


def test_the_account_export_zip_holds_one_document_per_talk(world):
    alice = world.talk_world.user("alice@example.com")
    start(world, alice, chat_exports.as_bytes(chat_exports.chatgpt_export(3)))
    job = world.exports.start(alice, None)
    job, token, _expires = world.exports.status(alice, job.id)
    assert job.status.value == "succeeded" and job.exported == 3 and token
    download = world.exports.open_link(token)
    with zipfile.ZipFile(io.BytesIO(download.stream.read())) as archive:
        documents = [json.loads(archive.read(name)) for name in archive.namelist()
                     if name.startswith("talks/")]
    assert sorted(d["talk"]["name"] for d in documents) == ["Talk 1", "Talk 2", "Talk 3"]
    assert {d["format"] for d in documents} == {"synapscale"}
    with pytest.raises(NotFound):
        world.exports.status(world.talk_world.user("bob@example.com"), job.id)
    second = world.exports.start(alice, None)  # a new archive replaces the old one
    with pytest.raises(NotFound):
        world.exports.open_link(token)
    assert world.exports.status(alice, second.id)[0].status.value == "succeeded"


def _synapscale(talk_id="t-1", **message):
    return {"format": "synapscale", "version": 1, "talk": {"id": talk_id, "name": "Doc"},
            "messages": [{"id": "m1", "role": "user", "content": "hi", **message}]}


def test_a_conversation_of_an_unexpected_shape_fails_alone_without_internal_text(world):
    alice = world.talk_world.user("alice@example.com")
    broken_claude = {"uuid": "c-1", "chat_messages": [{"uuid": "u1", "sender": "human",
                                                       "text": "x", "attachments": 7}]}
    content = json.dumps([_synapscale(file_ids=5), broken_claude,
                          chat_exports.chatgpt_conversation("g-1")]).encode()
    job = start(world, alice, content)
    job, items, _next = world.imports.status(alice, job.id)
    assert (job.status.value, job.imported) == ("succeeded", 3)
    # a field of the wrong type is absent; an error never names Python's exceptions
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr("use_cases.imports.formats.chatgpt.ChatGPTFormat.convert",
                      lambda self, raw: (_ for _ in ()).throw(TypeError("'int' not iterable")))
        job = start(world, alice, json.dumps([chat_exports.chatgpt_conversation("g-2"),
                                              _synapscale("t-2")]).encode())
    job, items, _next = world.imports.status(alice, job.id)
    assert [(item.status.value, item.error) for item in items] == [
        ("failed", "The conversation could not be read"), ("imported", None)]
    assert job.status.value == "succeeded"


def test_attachment_look_ups_are_bounded_per_message_and_per_conversation(world):
    alice = world.talk_world.user("alice@example.com")
    asked: list[list[str]] = []
    world.imports.file_context.attachments = lambda workspace_id, ids: asked.append(ids) or {}
    messages = [{"id": f"m{n}", "parent_id": f"m{n - 1}" if n else None, "role": "user",
                 "content": "hi", "file_ids": [f"{n:012d}{k:012d}" for k in range(100)]}
                for n in range(50)]
    document = {**_synapscale(), "messages": messages}
    job = start(world, alice, json.dumps(document).encode())
    assert world.imports.status(alice, job.id)[0].imported == 1
    assert len(asked) == 1 and len(asked[0]) == 200 == len(set(asked[0]))


def test_imported_talk_fields_keep_the_talk_apis_bounds(world):
    alice = world.talk_world.user("alice@example.com")
    long_prompt = {**_synapscale("t-1"), "talk": {"id": "t-1", "system_prompt": "x" * 20_001}}
    tagged = {**_synapscale("t-2"), "talk": {"id": "t-2", "tags": ["ok", "x" * 51, "", "ok"]
                                             + [f"t{n}" for n in range(30)]}}
    calls = [{"id": "c", "name": "f", "arguments": "x" * 600_000}] * 2
    agent = _synapscale("t-3", role="assistant", tool_calls=calls)
    errored = _synapscale("t-4", role="assistant", status="failed", error="e" * 100_000,
                          model="m" * 100_000)
    job = start(world, alice, json.dumps([long_prompt, tagged, agent, errored]).encode())
    _job, items, _next = world.imports.status(alice, job.id)
    assert [item.status.value for item in items] == ["failed", "imported", "failed", "imported"]
    assert "system prompt" in items[0].error and "tool_calls" in items[2].error
    talk = world.talk_world.talks.visible(alice, items[1].talk_id)
    assert talk.tags == ["ok"] + [f"t{n}" for n in range(19)]
    message = world.talk_world.message_repo.get(
        world.talk_world.talks.visible(alice, items[3].talk_id).current_leaf_id, items[3].talk_id)
    assert len(message.error) == len(message.model) == 10_000


def test_names_from_the_upload_reach_reports_without_paths_or_control_characters(world):
    alice = world.talk_world.user("alice@example.com")
    job = start(world, alice, b"[{}]", name="..\\..\\C:/tmp/\x1b[31mevil\r\nname\u202e.json")
    job, items, _next = world.imports.status(alice, job.id)
    assert job.filename == "[31mevilname.json"
    assert items[0].source_id == "[31mevilname.json#0"
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("../\x07evil\x1b/conversations.json", b"[{}]")
    job = start(world, alice, buffer.getvalue(), name="export.zip")
    assert world.imports.status(alice, job.id)[1][0].source_id == "../evil/conversations.json#0"


def test_a_damaged_zip_member_fails_the_import_with_a_reason_of_ours(world):
    alice = world.talk_world.user("alice@example.com")
    buffer = io.BytesIO()
    payload = json.dumps(chat_exports.chatgpt_export(40)).encode()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("conversations.json", payload)
    data = bytearray(buffer.getvalue())
    middle = 30 + len("conversations.json") + len(data) // 4
    data[middle:middle + 64] = bytes(64)  # the deflate stream broken in its middle
    job = start(world, alice, bytes(data), name="export.zip")
    job, _items, _next = world.imports.status(alice, job.id)
    assert job.status.value == "failed"
    assert job.error == ("conversations.json is damaged, encrypted or compressed in a way not "
                         "supported")


def test_many_small_members_compressed_as_a_bomb_together_are_refused(world, tmp_path):
    alice = world.talk_world.user("alice@example.com")
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for n in range(4):  # each member under the 1 MiB floor of the per-member check
            archive.writestr(f"conversations-{n}.json", b"[" + b" " * (1024 * 1024 - 2) + b"]")
    with pytest.raises(ValidationFailed, match="together: refused as a zip bomb"):
        start(world, alice, buffer.getvalue(), name="export.zip")
    assert list(tmp_path.iterdir()) == [] and world.import_jobs.collection.count_documents({}) == 0


def test_an_import_stops_once_its_user_can_no_longer_write_in_the_workspace(world):
    identity = world.talk_world.identity
    bob = identity.actor("bob@example.com")
    alice = identity.actor("alice@example.com").user_id
    team, _ = identity.workspaces.create(bob, "Team")
    identity.workspaces.add_member(bob, team.id, "alice@example.com", WorkspaceRole.MEMBER)
    world.imports.progress_every_s = 0  # a progress flush (and a membership check) each time
    require = world.imports.access.require
    checks = []

    def demoted_after_the_first_conversation(user_id, workspace_id, minimum):
        checks.append(workspace_id)
        if len(checks) == 2:  # 1: the start; 2: after the first conversation
            identity.workspaces.change_member_role(bob, team.id, alice, WorkspaceRole.VIEWER)
        return require(user_id, workspace_id, minimum)

    world.imports.access.require = demoted_after_the_first_conversation
    job = start(world, alice, chat_exports.as_bytes(chat_exports.chatgpt_export(3)),
                workspace_id=team.id)
    job, _items, _next = world.imports.status(alice, job.id)
    assert (job.status.value, job.total, job.imported) == ("failed", 1, 1)
    assert job.error.startswith("You can no longer write in this workspace")


def test_the_model_catalogue_is_read_once_per_import_not_per_conversation(world):
    alice = world.talk_world.user("alice@example.com")
    catalogue = world.imports.model_ids
    reads = []
    world.imports.model_ids = lambda: reads.append(1) or catalogue()
    job = start(world, alice, chat_exports.as_bytes(chat_exports.chatgpt_export(5)))
    assert world.imports.status(alice, job.id)[0].imported == 5 and len(reads) == 1


def test_uploads_spooled_by_a_process_that_ended_are_swept_by_the_next_import(world, tmp_path):
    alice = world.talk_world.user("alice@example.com")
    stale = tmp_path / "synapscale-import-dead.upload"
    fresh = tmp_path / "synapscale-import-live.upload"
    other = tmp_path / "someone-else.upload"
    for path in (stale, fresh, other):
        path.write_bytes(b"[]")
    old = time.time() - 2 * 3600
    os.utime(stale, (old, old))
    os.utime(other, (old, old))
    start(world, alice, chat_exports.as_bytes(chat_exports.chatgpt_export(1)))
    assert sorted(path.name for path in tmp_path.iterdir()) == [
        "someone-else.upload", "synapscale-import-live.upload"]


def test_an_import_whose_thread_cannot_start_leaves_no_file_no_running_job_and_a_free_slot(
        world, tmp_path, monkeypatch):
    alice = world.talk_world.user("alice@example.com")
    world.imports.runner = BackgroundJobs(1, "import")

    def no_thread(self):
        raise RuntimeError("can't start new thread")

    monkeypatch.setattr("threading.Thread.start", no_thread)
    for _ in range(2):  # the slot of the first attempt was given back
        with pytest.raises(ServiceUnavailable, match="retry"):
            start(world, alice, chat_exports.as_bytes(chat_exports.chatgpt_export(1)))
    assert list(tmp_path.iterdir()) == []
    assert world.import_jobs.collection.count_documents({"status": "running"}) == 0
    world.exports.runner = BackgroundJobs(1, "export")
    with pytest.raises(ServiceUnavailable, match="retry"):
        world.exports.start(alice, None)
    assert world.export_jobs.collection.count_documents({"status": "running"}) == 0
