"""The import use case on fakes: who may import where, what a job leaves behind, what it keeps
of a conversation, and the export of everything."""
from __future__ import annotations

import io
import json
import zipfile

import pytest

from entities.errors import Forbidden, NotFound, ServiceUnavailable, ValidationFailed
from entities.workspace import WorkspaceRole
from tests.fakes.gateway import MODEL
from tests.fakes.imports import ImportWorld
from tests.support import chat_exports


@pytest.fixture
def world(tmp_path):
    return ImportWorld(spool_dir=tmp_path)


def start(world, user_id, content: bytes, workspace_id=None, fmt=None, name="export.json"):
    return world.imports.start(user_id, workspace_id, fmt, name, iter([content]))


def test_an_import_reports_each_conversation_and_leaves_no_spooled_file(world, tmp_path):
    alice = world.talk_world.user("alice@example.com")
    job = start(world, alice, chat_exports.as_bytes(chat_exports.chatgpt_export(2)))
    job, items = world.imports.status(alice, job.id)
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
    _job, items = world.imports.status(alice, job.id)
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
