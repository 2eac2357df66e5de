"""Talks and messages: the same results on mongomock (as unit tests run them: without text
indexes, searched by regex) and on the wire server (with the production indexes)."""
from __future__ import annotations

from datetime import timedelta

import pytest
from bson import ObjectId

from entities.clock import utcnow
from entities.errors import ValidationFailed
from entities.pagination import PageRequest
from entities.share import Share, SharedMessage
from entities.talk import Message, MessageRole, MessageStatus, MessageUsage, ReplyControl, Talk
from repositories.shares import MongoShareRepository
from repositories.talks import MongoMessageRepository, MongoTalkRepository
from tests.contract.conftest import repository
from tests.fakes.chat import MongomockMessageRepository, MongomockTalkRepository
from use_cases.chat.ports import TalkFilter


@pytest.fixture
def talks(backend, db):
    return repository(backend, db, MongomockTalkRepository, MongoTalkRepository)


@pytest.fixture
def messages(backend, db, talks):
    return repository(backend, db, MongomockMessageRepository, MongoMessageRepository)


def new_talk(talks, name: str = "", user: str = "u1", workspace: str = "ws1", **fields) -> Talk:
    return talks.add(Talk(id="", workspace_id=workspace, user_id=user, name=name, **fields))


def leaf_of(messages, talk: Talk) -> str | None:
    stored = messages.talks.find_one({"_id": ObjectId(talk.id)}, {"current_leaf_id": True})
    leaf = (stored or {}).get("current_leaf_id")
    return str(leaf) if leaf else None


def say(messages, talk: Talk, content: str, role=MessageRole.USER,
        status=MessageStatus.COMPLETE, parent_id: str | None = "leaf") -> Message:
    """A message after the talk's current leaf (as Chat adds them), or after `parent_id`."""
    parent = leaf_of(messages, talk) if parent_id == "leaf" else parent_id
    return messages.add(Message(id="", talk_id=talk.id, workspace_id=talk.workspace_id,
                                user_id=talk.user_id, role=role, content=content, status=status,
                                parent_id=parent))


def names(page) -> list[str]:
    return [talk.name for talk in page.items]


# --- talks --------------------------------------------------------------------------------------


def test_a_talk_belongs_to_its_user_only(talks):
    talk = new_talk(talks, "Plans", tags=["a"], model="m", system_prompt="Be brief")
    found = talks.get(talk.id, "u1")
    assert (found.name, found.tags, found.model, found.system_prompt) == ("Plans", ["a"], "m",
                                                                          "Be brief")
    assert (found.message_count, found.last_message_at, found.last_seq) == (0, None, 0)
    assert talks.get(talk.id, "u2") is None and talks.get("junk", "u1") is None
    assert [t.id for t in talks.get_many([talk.id, "junk", "f" * 24], "u1")] == [talk.id]
    assert talks.get_many([talk.id], "u2") == []


def test_an_update_changes_talk_fields_only_and_refuses_anything_else(talks):
    talk = new_talk(talks, "Plans")
    updated = talks.update(talk.id, "u1", name="Trips", pinned=True, tags=["x"])
    assert (updated.name, updated.pinned, updated.tags) == ("Trips", True, ["x"])
    with pytest.raises(ValueError, match="workspace_id"):
        talks.update(talk.id, "u1", workspace_id="ws2")
    with pytest.raises(ValueError, match="message_count"):
        talks.update(talk.id, "u1", name="x", message_count=99)
    assert talks.get(talk.id, "u1").name == "Trips"
    assert talks.update(talk.id, "u2", name="theirs") is None


def test_a_deleted_talk_is_hidden_until_restored(talks):
    talk = new_talk(talks, "Plans")
    assert talks.set_deleted(talk.id, "u1", True).deleted_at is not None
    assert talks.get(talk.id, "u1") is None and talks.update(talk.id, "u1", name="x") is None
    assert talks.get(talk.id, "u1", include_deleted=True).name == "Plans"
    assert talks.deleted_ids("u1") == [talk.id] and talks.deleted_ids("u2") == []
    assert talks.set_deleted(talk.id, "u2", False) is None
    assert talks.set_deleted(talk.id, "u1", False).deleted_at is None
    assert talks.get(talk.id, "u1") is not None and talks.deleted_ids("u1") == []


def test_talks_are_listed_pinned_first_then_by_latest_activity(talks):
    start = utcnow()
    quiet, busy, pinned = (new_talk(talks, n) for n in ("quiet", "busy", "pinned"))
    new_talk(talks, "elsewhere", workspace="ws2")
    new_talk(talks, "theirs", user="u2")
    talks.record_messages(quiet.id, 1, start + timedelta(seconds=1))
    talks.record_messages(busy.id, 2, start + timedelta(seconds=3))
    talks.record_messages(pinned.id, 1, start + timedelta(seconds=2))
    talks.update(pinned.id, "u1", pinned=True)
    everything = talks.list(TalkFilter("u1", ["ws1"]), PageRequest())
    assert names(everything) == ["pinned", "busy", "quiet"] and everything.total == 3
    assert names(talks.list(TalkFilter("u1"), PageRequest(page=2, size=2))) == ["quiet",
                                                                                "elsewhere"]
    assert talks.get(busy.id, "u1").message_count == 2
    talks.record_messages(busy.id, -1, start)  # counted out: the activity stays
    assert names(talks.list(TalkFilter("u1", ["ws1"]), PageRequest())) == ["pinned", "busy",
                                                                           "quiet"]
    assert talks.get(busy.id, "u1").message_count == 1


def test_the_list_filters_by_name_archive_and_trash(talks):
    kept = new_talk(talks, "Budget (2026)")
    new_talk(talks, "Notes")
    archived = new_talk(talks, "Old budget")
    talks.update(archived.id, "u1", archived=True)
    gone = new_talk(talks, "budget draft")
    talks.set_deleted(gone.id, "u1", True)

    def listed(**query) -> list[str]:
        return sorted(names(talks.list(TalkFilter("u1", **query), PageRequest())))

    assert listed(name_contains="BUDGET") == ["Budget (2026)"]
    assert listed(name_contains="(2026)") == [kept.name]
    assert listed(archived=None, name_contains="budget") == ["Budget (2026)", "Old budget"]
    assert listed(archived=True) == ["Old budget"]
    assert listed(deleted=True) == ["budget draft"]
    assert listed(workspace_ids=[]) == []


def test_the_first_name_wins(talks):
    talk = new_talk(talks)
    talks.name_if_unnamed(talk.id, "First")
    talks.name_if_unnamed(talk.id, "Second")
    assert talks.get(talk.id, "u1").name == "First"


def test_names_are_searched_by_word_newest_activity_first(talks):
    start = utcnow()
    older = new_talk(talks, "banana bread")
    newer = new_talk(talks, "Banana split")
    new_talk(talks, "apple pie")
    gone = new_talk(talks, "banana old")
    talks.set_deleted(gone.id, "u1", True)
    talks.record_messages(older.id, 1, start + timedelta(seconds=1))
    talks.record_messages(newer.id, 1, start + timedelta(seconds=2))
    found, total = talks.search_names(TalkFilter("u1", archived=None), "banana", 0, 10)
    assert ([t.id for t in found], total) == ([newer.id, older.id], 2)
    found, total = talks.search_names(TalkFilter("u1", archived=None), "banana", 1, 1)
    assert ([t.id for t in found], total) == ([older.id], 2)


# --- messages -----------------------------------------------------------------------------------


def test_adding_a_message_numbers_it_and_counts_it_on_its_talk(talks, messages):
    talk = new_talk(talks)
    first = say(messages, talk, "hello")
    say(messages, talk, "hi", MessageRole.ASSISTANT)
    stored = talks.get(talk.id, "u1")
    assert (stored.message_count, stored.last_seq) == (2, 2)
    assert stored.last_message_at is not None
    found = messages.get(first.id, talk.id)
    assert (found.content, found.role, found.status) == ("hello", MessageRole.USER,
                                                         MessageStatus.COMPLETE)
    assert messages.get(first.id, "f" * 24) is None and messages.get("junk", talk.id) is None


def test_pages_go_back_from_the_newest_oldest_first_skipping_deleted(talks, messages):
    talk = new_talk(talks)
    sent = [say(messages, talk, f"m{n}") for n in range(7)]
    assert messages.set_deleted(sent[5].id, talk.id)
    assert not messages.set_deleted(sent[5].id, talk.id)
    talk = talks.get(talk.id, "u1")
    newest = messages.page(talk, 3, None)
    assert ([m.content for m in newest.items], newest.has_more) == (["m3", "m4", "m6"], True)
    older = messages.page(talk, 3, newest.next_before)
    assert ([m.content for m in older.items], older.has_more) == (["m0", "m1", "m2"], False)
    assert [m.content for m in messages.all(talk.id)] == ["m0", "m1", "m2", "m3", "m4", "m6"]
    with pytest.raises(ValidationFailed):
        messages.page(talk, 3, "f" * 24)


def test_history_keeps_the_replies_the_model_sees_again(talks, messages):
    talk = new_talk(talks)
    question = say(messages, talk, "q")
    say(messages, talk, "failed", MessageRole.ASSISTANT, MessageStatus.FAILED)
    say(messages, talk, "stopped", MessageRole.ASSISTANT, MessageStatus.STOPPED)
    last = say(messages, talk, "a", MessageRole.ASSISTANT)
    say(messages, talk, "later")
    # a regenerated sibling of "a" is on another branch: never in this path's history
    say(messages, talk, "other", MessageRole.ASSISTANT, parent_id=question.id)
    talks.set_current_leaf(talk.id, last.id)
    talk = talks.get(talk.id, "u1")
    assert [m.content for m in messages.history(talk, last.id, 10)] == ["q", "stopped", "a"]
    later = talks.get(talk.id, "u1")
    assert [m.content for m in messages.history(later, None, 2)] == ["stopped", "a"]


def test_an_update_stores_statuses_and_usage(talks, messages):
    talk = new_talk(talks)
    reply = say(messages, talk, "", MessageRole.ASSISTANT, MessageStatus.STREAMING)
    updated = messages.update(reply.id, content="done", status=MessageStatus.COMPLETE,
                              usage=MessageUsage(3, 2, 0.01), latency_ms=5.0)
    assert (updated.status, updated.usage, updated.latency_ms) == (
        MessageStatus.COMPLETE, MessageUsage(3, 2, 0.01), 5.0)
    assert messages.get(reply.id, talk.id).status is MessageStatus.COMPLETE
    assert messages.update("f" * 24, content="x") is None


def test_progress_saves_see_stop_requests_and_followers(talks, messages):
    talk = new_talk(talks)
    reply = say(messages, talk, "", MessageRole.ASSISTANT, MessageStatus.STREAMING)
    done = say(messages, talk, "x", MessageRole.ASSISTANT)
    assert messages.save_progress(reply.id, "a b") == ReplyControl(False, False)
    messages.add_follower(reply.id, 1)
    assert messages.save_progress(reply.id, "a b c") == ReplyControl(False, True)
    assert [m.id for m in messages.streaming(talk.id)] == [reply.id]
    assert messages.request_stop(talk.id) == [reply.id]
    messages.add_follower(reply.id, -1)
    assert messages.save_progress(reply.id, "a b c d") == ReplyControl(True, False)
    assert messages.get(reply.id, talk.id).content == "a b c d"
    assert messages.get(done.id, talk.id).status is MessageStatus.COMPLETE
    messages.set_deleted(reply.id, talk.id)
    assert messages.streaming(talk.id) == [] and messages.request_stop(talk.id) == []


def test_messages_are_searched_by_word_newest_first(talks, messages):
    kitchen, garden = new_talk(talks, "Kitchen"), new_talk(talks, "Garden")
    other = new_talk(talks, "Theirs", workspace="ws2")
    first = say(messages, kitchen, "banana one")
    say(messages, garden, "no fruit here")
    second = say(messages, kitchen, "Banana two")
    elsewhere = say(messages, other, "banana three")
    gone = say(messages, kitchen, "banana gone")
    messages.set_deleted(gone.id, kitchen.id)
    everywhere = TalkFilter("u1", archived=None)
    found, total = messages.search(everywhere, "banana", [], 0, 10)
    assert ([m.id for m in found], total) == ([elsewhere.id, second.id, first.id], 3)
    found, total = messages.search(TalkFilter("u1", ["ws1"]), "banana", [], 1, 10)
    assert ([m.id for m in found], total) == ([first.id], 2)
    found, total = messages.search(everywhere, "banana", [kitchen.id], 0, 10)
    assert ([m.id for m in found], total) == ([elsewhere.id], 1)


# --- one reply at a time ------------------------------------------------------------------------

def test_a_talk_is_claimed_for_one_reply_at_a_time_until_released_or_expired(talks):
    talk = new_talk(talks, "Claimed")
    lease = utcnow() + timedelta(minutes=5)
    assert talks.claim_reply(talk.id, "a" * 24, lease) is None
    assert talks.claim_reply(talk.id, "b" * 24, lease) == "a" * 24  # the holder named
    talks.release_reply(talk.id, "b" * 24)  # not its claim: nothing changes
    assert talks.claim_reply(talk.id, "c" * 24, lease) == "a" * 24
    talks.release_reply(talk.id, "a" * 24)
    assert talks.claim_reply(talk.id, "c" * 24, utcnow() - timedelta(seconds=1)) is None
    assert talks.claim_reply(talk.id, "d" * 24, lease) is None  # c's lease was over: taken over
    talks.release_reply(talk.id, "c" * 24)  # the expired holder ends late: d keeps the talk
    assert talks.claim_reply(talk.id, "e" * 24, lease) == "d" * 24


def test_a_message_is_stored_with_the_id_taken_for_it(talks, messages):
    talk = new_talk(talks, "Ids")
    first, second = messages.new_id(), messages.new_id()
    assert first < second
    stored = messages.add(Message(id=second, talk_id=talk.id, workspace_id=talk.workspace_id,
                                  user_id=talk.user_id, role=MessageRole.USER, content="hi"))
    assert stored.id == second and messages.get(second, talk.id).content == "hi"


# --- the id convention ----------------------------------------------------------------------------


def test_references_are_stored_as_object_ids_and_read_back_as_strings(talks, messages, db):
    user, workspace, file = (str(ObjectId()) for _ in range(3))
    talk = new_talk(talks, "Ids", user=user, workspace=workspace)
    question = messages.add(Message(id="", talk_id=talk.id, workspace_id=workspace, user_id=user,
                                    role=MessageRole.USER, content="hi", file_ids=[file]))
    answer = messages.add(Message(id="", talk_id=talk.id, workspace_id=workspace, user_id=user,
                                  role=MessageRole.ASSISTANT, content="hello", parent_id=question.id))
    stored_talk = db["talks"].find_one({"_id": ObjectId(talk.id)})
    assert (stored_talk["user_id"], stored_talk["workspace_id"]) == (ObjectId(user), ObjectId(workspace))
    stored = db["messages"].find_one({"_id": ObjectId(answer.id)})
    assert (stored["talk_id"], stored["user_id"], stored["parent_id"]) == (
        ObjectId(talk.id), ObjectId(user), ObjectId(question.id))
    assert db["messages"].find_one({"_id": ObjectId(question.id)})["file_ids"] == [ObjectId(file)]
    read = messages.get(answer.id, talk.id)
    assert (read.user_id, read.workspace_id, read.parent_id) == (user, workspace, question.id)
    assert messages.get(question.id, talk.id).file_ids == [file]
    assert [t.id for t in talks.list(TalkFilter(user, [workspace]), PageRequest()).items] == [talk.id]


# --- trees and shares (issue 20) ----------------------------------------------------------------


@pytest.fixture
def shares(backend, db):
    return repository(backend, db, MongoShareRepository, MongoShareRepository)


def test_the_current_path_follows_parents_from_the_current_leaf(talks, messages):
    talk = new_talk(talks)
    question = say(messages, talk, "q")
    old = say(messages, talk, "old", MessageRole.ASSISTANT)
    say(messages, talk, "more")
    new = say(messages, talk, "new", MessageRole.ASSISTANT, parent_id=question.id)
    stored = talks.get(talk.id, "u1")
    assert stored.current_leaf_id == new.id
    assert [m.content for m in messages.path(stored)] == ["q", "new"]
    assert [m.content for m in messages.path(stored, old.id)] == ["q", "old"]
    assert [m.content for m in messages.page(stored, 10, None).items] == ["q", "new"]
    every = messages.page(stored, 10, None, every_branch=True)
    assert [m.content for m in every.items] == ["q", "old", "more", "new"]
    nodes = {node.id: node for node in messages.nodes(talk.id)}
    assert nodes[new.id].parent_id == question.id and nodes[new.id].role is MessageRole.ASSISTANT
    with pytest.raises(ValidationFailed):
        messages.path(stored, "f" * 24)


def test_copies_are_stored_in_one_block_keeping_ids_parents_and_times(talks, messages):
    talk = new_talk(talks)
    say(messages, talk, "already there")
    when = utcnow() - timedelta(days=3)
    first_id, second_id = messages.new_id(), messages.new_id()
    stored = messages.add_many(talk.id, [
        Message(id=first_id, talk_id=talk.id, workspace_id="ws1", user_id="u1",
                role=MessageRole.USER, content="a", created_at=when),
        Message(id=second_id, talk_id=talk.id, workspace_id="ws1", user_id="u1",
                role=MessageRole.ASSISTANT, content="b", parent_id=first_id,
                usage=MessageUsage(1, 2, 0.5), created_at=when + timedelta(seconds=1))])
    assert [m.id for m in stored] == [first_id, second_id]
    after = talks.get(talk.id, "u1")
    assert (after.message_count, after.last_seq, after.current_leaf_id) == (3, 3, second_id)
    copied = messages.get(second_id, talk.id)
    assert copied.parent_id == first_id and copied.usage == MessageUsage(1, 2, 0.5)
    assert abs((copied.created_at - (when + timedelta(seconds=1))).total_seconds()) < 0.01
    assert [m.content for m in messages.path(after)] == ["a", "b"]


def test_a_talk_stored_before_trees_is_linked_into_one_line(db, talks, messages):
    talk = new_talk(talks)
    one = say(messages, talk, "one", parent_id=None)
    reply = say(messages, talk, "reply", MessageRole.ASSISTANT, parent_id=one.id)
    two = say(messages, talk, "two", parent_id=None)
    db["talks"].update_one({"_id": ObjectId(talk.id)}, {"$unset": {"current_leaf_id": ""}})
    legacy = talks.get(talk.id, "u1")
    assert legacy.current_leaf_id is None
    assert [m.content for m in messages.path(legacy)] == ["one", "reply", "two"]
    assert messages.link_line(talk.id) == two.id
    assert messages.link_line(talk.id) == two.id  # a second call changes nothing
    assert messages.get(two.id, talk.id).parent_id == reply.id
    assert [m.content for m in messages.path(talks.get(talk.id, "u1"))] == ["one", "reply", "two"]


def test_shares_are_read_by_their_token_and_revoked_by_their_owner_only(shares):
    token = shares.new_id()
    assert len(token) >= 22 and token != shares.new_id()
    made = shares.add(Share(id=token, talk_id="a" * 24, user_id="b" * 24, workspace_id="c" * 24,
                            title="T", messages=[SharedMessage("user", "hi", utcnow())]))
    read = shares.get(token)
    assert read is not None and read.messages[0].content == "hi" and read.title == "T"
    assert read.readable(utcnow()) and made.id == token
    listed = shares.list_for_talk("a" * 24, "b" * 24)
    assert [s.id for s in listed] == [token] and listed[0].messages == []
    assert not shares.revoke(token, "d" * 24)
    assert shares.revoke(token, "b" * 24) and not shares.revoke(token, "b" * 24)
    assert not shares.get(token).readable(utcnow())
    assert shares.list_for_talk("a" * 24, "b" * 24) == []
    assert shares.get("nope") is None and shares.get({"$ne": None}) is None  # type: ignore[arg-type]
