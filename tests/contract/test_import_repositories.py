"""Imported talks written whole, and import jobs: the same results on mongomock (as unit tests
run them) and on the wire server."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from bson import ObjectId

from entities.clock import utcnow
from entities.talk import Message, MessageRole, MessageStatus, Talk, TalkSource
from entities.talk_import import ImportItem, ImportJob, ItemStatus, JobStatus
from repositories.talk_imports import MongoImportJobs, MongoTalkArchive
from repositories.talks import MongoMessageRepository, MongoTalkRepository
from tests.contract.conftest import repository
from tests.fakes.chat import MongomockMessageRepository, MongomockTalkRepository

USER = str(ObjectId())
WORKSPACE = str(ObjectId())
THEN = datetime(2023, 11, 14, 22, 13, 20, tzinfo=UTC)


@pytest.fixture
def talks(backend, db):
    return repository(backend, db, MongomockTalkRepository, MongoTalkRepository)


@pytest.fixture
def messages(backend, db, talks):
    return repository(backend, db, MongomockMessageRepository, MongoMessageRepository)


@pytest.fixture
def archive(backend, db, talks):
    return repository(backend, db, MongoTalkArchive, MongoTalkArchive)


@pytest.fixture
def jobs(backend, db):
    return repository(backend, db, MongoImportJobs, MongoImportJobs)


def whole_talk(archive, source_id: str) -> tuple[Talk, list[Message]]:
    talk_id = archive.new_id()
    ids = [archive.new_id() for _ in range(3)]
    parents = [None, ids[0], ids[0]]  # a user message with two replies: a branch
    roles = [MessageRole.USER, MessageRole.ASSISTANT, MessageRole.ASSISTANT]
    messages = [Message(id=ids[n], talk_id=talk_id, workspace_id=WORKSPACE, user_id=USER,
                        role=roles[n], content=f"m{n}", parent_id=parents[n],
                        status=MessageStatus.SUPERSEDED if n == 1 else MessageStatus.COMPLETE,
                        model="gpt-4o" if n else None, created_at=THEN + timedelta(seconds=n),
                        updated_at=THEN + timedelta(seconds=n)) for n in range(3)]
    talk = Talk(id=talk_id, workspace_id=WORKSPACE, user_id=USER, name="Imported",
                message_count=3, last_seq=3, last_message_at=THEN + timedelta(seconds=2),
                created_at=THEN, updated_at=THEN + timedelta(seconds=2),
                current_leaf_id=ids[2], source=TalkSource("chatgpt", source_id))
    return talk, messages


def test_a_whole_talk_keeps_its_times_tree_and_current_leaf(archive, talks, messages):
    talk, written = whole_talk(archive, "c-1")
    assert archive.add_whole(talk, written) == talk.id
    stored = talks.get(talk.id, USER)
    assert (stored.name, stored.message_count, stored.created_at) == ("Imported", 3, THEN)
    assert stored.current_leaf_id == written[2].id
    assert stored.source == TalkSource("chatgpt", "c-1")
    read = list(messages.all(talk.id))
    assert [(m.content, m.parent_id, m.status, m.created_at) for m in read] == [
        (m.content, m.parent_id, m.status, m.created_at) for m in written]
    assert archive.has_source(USER, "chatgpt", "c-1") == talk.id
    assert archive.has_source(USER, "claude", "c-1") is None
    assert archive.has_source(str(ObjectId()), "chatgpt", "c-1") is None


def test_the_same_source_is_stored_once_per_user(archive, talks, messages):
    first, written = whole_talk(archive, "c-1")
    archive.add_whole(first, written)
    again, rewritten = whole_talk(archive, "c-1")
    assert archive.add_whole(again, rewritten) is None
    assert talks.get(again.id, USER) is None and list(messages.all(again.id)) == []
    new_talk = talks.add(Talk(id="", workspace_id=WORKSPACE, user_id=USER))
    assert new_talk.source is None  # talks made here have no source: never in the way


def test_import_items_keep_their_order_and_abandoned_jobs_fail_once(jobs):
    job = jobs.add(ImportJob(id="", user_id=USER, workspace_id=WORKSPACE, format=None,
                             filename="conversations.json"), "", utcnow() + timedelta(seconds=60))
    job.total, job.imported, job.failed = 2, 1, 1
    jobs.progress(job, [ImportItem("a", ItemStatus.IMPORTED, str(ObjectId())),
                        ImportItem("b", ItemStatus.FAILED, error="bad")],
                  utcnow() + timedelta(seconds=60))
    assert [(i.source_id, i.status) for i in jobs.items(job.id)] == [
        ("a", ItemStatus.IMPORTED), ("b", ItemStatus.FAILED)]
    assert jobs.get(job.id, str(ObjectId())) is None
    assert not jobs.fail_abandoned(job.id, utcnow(), "gone")  # the lease still runs
    assert jobs.fail_abandoned(job.id, utcnow() + timedelta(seconds=120), "gone")
    assert not jobs.fail_abandoned(job.id, utcnow() + timedelta(seconds=120), "gone")
    failed = jobs.get(job.id, USER)
    assert (failed.status, failed.error, failed.total) == (JobStatus.FAILED, "gone", 2)
