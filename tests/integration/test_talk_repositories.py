"""Talk and message repositories against the real wire server: indexes, paging, search, stop."""
from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from bson import ObjectId
from pymongo import MongoClient, monitoring

from entities.clock import utcnow
from entities.pagination import PageRequest
from entities.talk import Message, MessageRole, MessageStatus, ReplyControl, Talk
from repositories.mongo import connect
from repositories.talks import MongoMessageRepository, MongoTalkRepository
from use_cases.chat.ports import TalkFilter


class CommandCounter(monitoring.CommandListener):
    def __init__(self):
        self.commands: list[str] = []

    def started(self, event):
        self.commands.append(event.command_name)

    def succeeded(self, event):
        pass

    def failed(self, event):
        pass


@pytest.fixture
def counter():
    return CommandCounter()


@pytest.fixture
def db(mongo_uri, counter):
    client = connect(mongo_uri, listeners=[counter])
    name = f"test_talks_{uuid.uuid4().hex[:10]}"
    yield client[name]
    client.close()
    with MongoClient(mongo_uri, socketTimeoutMS=300_000) as patient:  # a big drop takes a while
        patient.drop_database(name)


@pytest.fixture
def talks(db):
    repo = MongoTalkRepository(db)
    repo.ensure_indexes()
    return repo


@pytest.fixture
def messages(db):
    repo = MongoMessageRepository(db)
    repo.ensure_indexes()
    return repo


def new_talk(talks, user="u1", workspace="w1", name=""):
    now = utcnow()
    return talks.add(Talk(id="", workspace_id=workspace, user_id=user, name=name,
                          created_at=now, updated_at=now))


def new_message(messages, talk, content, role=MessageRole.USER, status=MessageStatus.COMPLETE,
                parent_id=None):
    return messages.add(Message(id="", talk_id=talk.id, workspace_id=talk.workspace_id,
                                user_id=talk.user_id, role=role, content=content, status=status,
                                parent_id=parent_id))


def test_the_indexes_behind_listing_and_paging_exist(db, talks, messages):
    talk_indexes = {doc["name"]: doc["key"] for doc in db["talks"].list_indexes()}
    assert list(talk_indexes["my_talks"]) == ["user_id", "workspace_id", "deleted", "archived",
                                              "pinned", "last_message_at"]
    message_indexes = {doc["name"]: doc["key"] for doc in db["messages"].list_indexes()}
    assert list(message_indexes["talk_history"].items()) == [("talk_id", 1), ("deleted", 1),
                                                             ("seq", -1)]


def test_text_search_falls_back_to_an_escaped_regex_where_text_indexes_do_not_exist(
        talks, messages):
    assert messages.contents.indexed in (True, False)  # decided once, at index creation
    talk = new_talk(talks)
    new_message(messages, talk, "price is 3.50 (approx)")
    new_message(messages, talk, "price is 3750")
    query = TalkFilter("u1")
    found, total = messages.search(query, "3.50 (approx", [], 0, 10)
    if not messages.contents.indexed:
        assert total == 1 and found[0].content == "price is 3.50 (approx)"
    found, total = messages.search(query, "PRICE", [], 0, 10)
    assert total == 2 and [m.content for m in found] == ["price is 3750", "price is 3.50 (approx)"]


def bulk_messages(db, talk, count):
    """`count` messages numbered like MessageRepository.add numbers them, inserted at once."""
    db["messages"].insert_many([
        {"talk_id": ObjectId(talk.id), "seq": n + 1, "workspace_id": "w1", "user_id": "u1",
         "role": "user", "content": f"m{n}", "status": "complete", "deleted": False,
         "created_at": utcnow()} for n in range(count)])
    db["talks"].update_one({"_id": ObjectId(talk.id)},
                           {"$set": {"last_seq": count, "message_count": count}})
    return count


def test_paging_back_through_a_long_talk_is_one_indexed_range_query_whatever_the_page_size(
        db, talks, messages, counter):
    talk = new_talk(talks)
    bulk_messages(db, talk, 1200)
    talk = talks.get(talk.id, "u1")
    for limit in (1, 50, 100):
        counter.commands.clear()
        page = messages.page(talk, limit, None, every_branch=True)
        assert counter.commands == ["find"]
        assert len(page.items) == limit and page.has_more
        assert page.items[-1].content == "m1199"
    counter.commands.clear()
    older = messages.page(talk, 100, page.next_before, every_branch=True)
    assert counter.commands == ["find", "find"]  # the cursor's position, then the page
    assert older.items[-1].content == "m1099" and older.items[0].content == "m1000"
    plan = db["messages"].find({"talk_id": ObjectId(talk.id), "deleted": False,
                                "seq": {"$gte": 1100, "$lt": 1201}}).sort("seq", -1).explain()
    assert "talk_history" in str(plan["queryPlanner"]["winningPlan"])


def test_paging_widens_its_range_over_deleted_messages(db, talks, messages):
    talk = new_talk(talks)
    bulk_messages(db, talk, 50)
    db["messages"].update_many({"seq": {"$gt": 10}}, {"$set": {"deleted": True}})
    page = messages.page(talks.get(talk.id, "u1"), 5, None)
    assert [m.content for m in page.items] == ["m5", "m6", "m7", "m8", "m9"] and page.has_more
    rest = messages.page(talks.get(talk.id, "u1"), 10, page.next_before)
    assert [m.content for m in rest.items] == ["m0", "m1", "m2", "m3", "m4"]
    assert not rest.has_more


def test_adding_a_message_numbers_and_counts_it_on_its_talk(talks, messages):
    talk = new_talk(talks)
    first = new_message(messages, talk, "one")
    second = new_message(messages, talk, "two", MessageRole.ASSISTANT, parent_id=first.id)
    stored = talks.get(talk.id, "u1")
    assert (stored.message_count, stored.last_seq) == (2, 2)
    assert stored.last_message_at >= second.created_at >= first.created_at
    assert stored.current_leaf_id == second.id
    assert [m.content for m in messages.page(stored, 10, None).items] == ["one", "two"]


def bulk_line(db, talk, count):
    """`count` messages of one branch (each the parent of the next), the last one current."""
    ids = [ObjectId() for _ in range(count)]
    db["messages"].insert_many([
        {"_id": ids[n], "talk_id": ObjectId(talk.id), "seq": n + 1, "workspace_id": "w1",
         "user_id": "u1", "role": "user" if n % 2 == 0 else "assistant", "content": f"m{n}",
         "status": "complete", "deleted": False, "parent_id": ids[n - 1] if n else None,
         "created_at": utcnow()} for n in range(count)])
    db["talks"].update_one({"_id": ObjectId(talk.id)}, {"$set": {
        "last_seq": count, "message_count": count, "current_leaf_id": ids[-1]}})
    return ids


def test_the_current_path_of_a_long_talk_reads_only_the_nodes_above_the_page(db, talks, messages,
                                                                             counter):
    talk = new_talk(talks)
    ids = bulk_line(db, talk, 2000)
    talk = talks.get(talk.id, "u1")
    for limit in (1, 50, 100):
        counter.commands.clear()
        page = messages.page(talk, limit, None)
        # the leaf's node, one window of nodes above it, then the page's messages
        assert counter.commands == ["find", "find", "find"]
        assert [m.content for m in page.items] == [f"m{n}" for n in range(2000 - limit, 2000)]
        assert page.has_more
    older = messages.page(talk, 100, page.next_before)
    assert older.items[0].content == "m1800" and older.items[-1].content == "m1899"
    counter.commands.clear()
    history = messages.history(talk, None, 200)
    assert len(history) == 200 and history[-1].id == str(ids[-1])
    assert len(counter.commands) == 3
    assert len(messages.path(talk)) == 2000  # the whole path: windows widening to the root
    plan = db["messages"].find({"talk_id": ObjectId(talk.id),
                                "seq": {"$gte": 1000, "$lt": 2000}}).explain()
    assert "talk_tree" in str(plan["queryPlanner"]["winningPlan"])


def test_the_current_path_of_a_long_talk_is_a_projection_then_one_page(db, talks, messages,
                                                                       counter):
    talk = new_talk(talks)
    bulk_messages(db, talk, 1200)  # stored before trees: read whole, as one line
    talk = talks.get(talk.id, "u1")
    counter.commands.clear()
    page = messages.page(talk, 50, None)
    # every node without content, then the page's 50 messages
    assert counter.commands == ["find", "find"]
    assert [m.content for m in page.items] == [f"m{n}" for n in range(1150, 1200)]
    older = messages.page(talk, 50, page.next_before)
    assert older.items[0].content == "m1100" and older.has_more


def test_listing_talks_is_one_command_whatever_the_page_size(talks, counter):
    for n in range(30):
        new_talk(talks, name=f"t{n}")
    for size in (1, 20, 100):
        counter.commands.clear()
        page = talks.list(TalkFilter("u1", ["w1"]), PageRequest(1, size))
        assert counter.commands == ["aggregate"]
        assert page.total == 30 and len(page.items) == min(size, 30)


def test_new_talks_sort_by_creation_until_their_first_message(talks):
    older = new_talk(talks, name="older")
    newer = new_talk(talks, name="newer")
    # a message after both were created (BSON dates count milliseconds: "now" could tie)
    talks.record_messages(older.id, 1, utcnow() + timedelta(milliseconds=5))
    listed = talks.list(TalkFilter("u1"), PageRequest())
    assert [t.name for t in listed.items] == ["older", "newer"]
    assert listed.items[0].last_message_at is not None
    assert listed.items[1].last_message_at is None and listed.items[1].id == newer.id


def test_another_users_talk_is_not_found_by_id(talks):
    talk = new_talk(talks, user="u1")
    assert talks.get(talk.id, "u2") is None
    assert talks.update(talk.id, "u2", name="mine") is None
    assert talks.set_deleted(talk.id, "u2", True) is None
    assert talks.get("not-an-id", "u1") is None


def test_the_first_name_wins(talks):
    talk = new_talk(talks)
    talks.name_if_unnamed(talk.id, "first")
    talks.name_if_unnamed(talk.id, "second")
    assert talks.get(talk.id, "u1").name == "first"


def test_history_leaves_out_failed_replies_and_other_branches(talks, messages):
    talk = new_talk(talks)
    question = new_message(messages, talk, "q")
    bad = new_message(messages, talk, "bad", MessageRole.ASSISTANT, MessageStatus.FAILED,
                      parent_id=question.id)
    new_message(messages, talk, "old", MessageRole.ASSISTANT, MessageStatus.SUPERSEDED,
                parent_id=question.id)
    partial = new_message(messages, talk, "partial", MessageRole.ASSISTANT,
                          MessageStatus.STOPPED, parent_id=bad.id)
    answer = new_message(messages, talk, "good", MessageRole.ASSISTANT, parent_id=partial.id)
    talk = talks.get(talk.id, "u1")
    assert [m.content for m in messages.history(talk, None, 10)] == ["q", "partial", "good"]
    assert [m.content for m in messages.history(talk, question.id, 10)] == ["q"]
    assert [m.content for m in messages.history(talk, answer.id, 2)] == ["partial", "good"]


def test_a_stop_request_is_seen_by_the_next_progress_save(talks, messages):
    talk = new_talk(talks)
    reply = new_message(messages, talk, "", MessageRole.ASSISTANT, MessageStatus.STREAMING)
    assert messages.save_progress(reply.id, "par") == ReplyControl(False, False)
    messages.add_follower(reply.id, 1)
    assert messages.request_stop(talk.id) == [reply.id]
    assert messages.save_progress(reply.id, "partial") == ReplyControl(True, True)
    messages.add_follower(reply.id, -1)
    assert messages.save_progress(reply.id, "partial!").followed is False
    assert messages.get(reply.id, talk.id).content == "partial!"
    messages.update(reply.id, status=MessageStatus.STOPPED)
    assert messages.request_stop(talk.id) == []
