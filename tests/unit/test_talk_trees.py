"""Conversation trees on the fakes: the pure tree functions, editing, branches, forks and
shares as use cases (issue 20)."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from entities.clock import utcnow
from entities.errors import Conflict, Forbidden, NotFound, UpstreamError, ValidationFailed
from entities.message_tree import (
    MessageNode,
    implied_parents,
    latest_leaf,
    path_to,
    visible_tree,
)
from entities.talk import MessageRole, MessageStatus
from entities.workspace import WorkspaceRole
from tests.fakes.chat import TalkWorld

U, A = MessageRole.USER, MessageRole.ASSISTANT
DONE = MessageStatus.COMPLETE
T0 = datetime(2026, 1, 1, tzinfo=UTC)


def node(id_, parent, role=U, seq=0, deleted=False):
    return MessageNode(id_, parent, role, DONE, T0 + timedelta(seconds=seq), seq, deleted)


# --- the pure tree ------------------------------------------------------------------------------

def test_a_talk_stored_before_trees_reads_as_one_line_its_replies_keeping_their_question():
    nodes = [node("u1", None, seq=1), node("a1", "u1", A, seq=2), node("a1b", "u1", A, seq=3),
             node("u2", None, seq=4), node("a2", "u2", A, seq=5)]
    linked = {n.id: n for n in implied_parents(nodes)}
    assert [linked[i].parent_id for i in ("u1", "a1", "a1b", "u2", "a2")] == [
        None, "u1", "u1", "a1b", "u2"]
    assert [n.id for n in path_to(linked, "a2")] == ["u1", "a1b", "u2", "a2"]


def test_a_path_walks_through_deleted_messages_and_never_loops():
    nodes = {n.id: n for n in [node("r", None), node("d", "r", A, deleted=True),
                               node("x", "d", seq=2)]}
    assert [n.id for n in path_to(nodes, "x")] == ["r", "d", "x"]
    looped = {"a": node("a", "b"), "b": node("b", "a")}
    assert len(path_to(looped, "a")) == 2
    assert path_to(nodes, None) == [] and path_to(nodes, "missing") == []


def test_the_latest_leaf_below_a_message_is_the_newest_leaf_of_its_subtree():
    nodes = {n.id: n for n in [
        node("u", None, seq=1), node("a", "u", A, seq=2), node("b", "u", A, seq=3),
        node("a2", "a", seq=4), node("gone", "b", deleted=True, seq=5)]}
    assert latest_leaf(nodes, "u") == "a2"  # "b" is newer than "a", but "a2" is the newest leaf
    assert latest_leaf(nodes, "b") == "b"  # its only child is deleted
    assert latest_leaf(nodes, "a2") == "a2"


def test_the_visible_tree_reattaches_children_of_deleted_messages():
    shown = visible_tree([node("r", None, seq=1), node("d", "r", A, seq=2, deleted=True),
                          node("x", "d", seq=3), node("orphan", "nowhere", seq=4)])
    assert [(n.id, n.parent_id) for n in shown] == [("r", None), ("x", "r"), ("orphan", None)]


# --- use cases on the fakes ---------------------------------------------------------------------

@pytest.fixture
def world():
    return TalkWorld()


@pytest.fixture
def alice(world):
    return world.user("alice@example.com")


@pytest.fixture
def talk(world, alice):
    return world.talks.create(alice, None, name="Plans")


def contents(messages):
    return [m.content for m in messages]


def test_an_edit_is_a_sibling_and_its_reply_becomes_current(world, alice, talk):
    first = world.chat.send(alice, talk.id, "one")
    second = world.chat.send(alice, talk.id, "two")
    edited = world.chat.edit(alice, talk.id, second.user_message.id, "deux")
    assert edited.user_message.parent_id == first.assistant_message.id
    assert world.gateway.requests[-1].messages == [
        {"role": "user", "content": "one"}, {"role": "assistant", "content": "Echo: one"},
        {"role": "user", "content": "deux"}]
    shown = world.talks.all_messages(alice, talk.id)
    assert contents(shown) == ["one", "Echo: one", "deux", "Echo: deux"]
    assert world.talks.visible(alice, talk.id).current_leaf_id == edited.assistant_message.id
    assert len(world.talks.messages_page(alice, talk.id, 50, None, every_branch=True).items) == 6


def test_an_edit_keeps_the_original_attachments_unless_given(world, alice, talk):
    world.file_context.files = {"f" * 24: [{"type": "text", "text": "file text"}]}
    sent = world.chat.send(alice, talk.id, "read", file_ids=["f" * 24])
    edited = world.chat.edit(alice, talk.id, sent.user_message.id, "read again")
    assert edited.user_message.file_ids == ["f" * 24]
    bare = world.chat.edit(alice, talk.id, sent.user_message.id, "no file", file_ids=[])
    assert bare.user_message.file_ids == []


def test_only_user_messages_of_ones_own_talk_can_be_edited(world, alice, talk):
    sent = world.chat.send(alice, talk.id, "hi")
    with pytest.raises(ValidationFailed):
        world.chat.edit(alice, talk.id, sent.assistant_message.id, "x")
    with pytest.raises(ValidationFailed):
        world.chat.edit(alice, talk.id, sent.user_message.id, "   ")
    with pytest.raises(NotFound):
        world.chat.edit(alice, talk.id, "f" * 24, "x")
    bob = world.user("bob@example.com")
    with pytest.raises(NotFound):
        world.chat.edit(bob, talk.id, sent.user_message.id, "x")
    assert len(list(world.message_repo.all(talk.id))) == 2


def test_an_edit_is_refused_while_a_reply_is_generated(world, alice, talk):
    sent = world.chat.send(alice, talk.id, "hi")
    world.talk_repo.claim_reply(talk.id, "a" * 24, utcnow() + timedelta(minutes=1))
    with pytest.raises(Conflict):
        world.chat.edit(alice, talk.id, sent.user_message.id, "x")
    assert len(list(world.message_repo.all(talk.id))) == 2


def test_a_talk_stored_before_trees_is_linked_on_its_next_message(world, alice, talk):
    first = world.chat.send(alice, talk.id, "one")
    world.message_repo.collection.update_many({}, {"$set": {"parent_id": None}})
    world.message_repo.collection.update_one(
        {"role": "assistant"}, {"$set": {"parent_id": first.user_message.id}})
    world.talk_repo.collection.update_many({}, {"$unset": {"current_leaf_id": ""}})
    assert contents(world.talks.all_messages(alice, talk.id)) == ["one", "Echo: one"]
    assert world.branches.tree(alice, talk.id).current_leaf_id == first.assistant_message.id
    world.chat.send(alice, talk.id, "two")
    assert world.gateway.requests[-1].messages[:2] == [
        {"role": "user", "content": "one"}, {"role": "assistant", "content": "Echo: one"}]
    stored = {m.content: m for m in world.message_repo.all(talk.id)}
    assert stored["two"].parent_id == first.assistant_message.id


def test_switching_branches_checks_the_message_and_the_role(world, alice, talk):
    sent = world.chat.send(alice, talk.id, "hi")
    again = world.chat.regenerate(alice, talk.id, sent.assistant_message.id)
    switched = world.branches.switch(alice, talk.id, sent.assistant_message.id)
    assert switched.current_leaf_id == sent.assistant_message.id
    assert world.events.on(f"user:{alice}")[-1] == {
        "topic": f"user:{alice}", "type": "talk.branch_switched", "talk_id": talk.id,
        "current_leaf_id": sent.assistant_message.id}
    assert world.branches.switch(alice, talk.id, sent.user_message.id).current_leaf_id \
        == again.assistant_message.id
    with pytest.raises(ValidationFailed):
        world.branches.switch(alice, talk.id, "f" * 24)
    other = world.talks.create(alice, None)
    elsewhere = world.chat.send(alice, other.id, "x").user_message.id
    with pytest.raises(ValidationFailed):
        world.branches.switch(alice, talk.id, elsewhere)
    world.talks.delete_message(alice, talk.id, sent.assistant_message.id)
    with pytest.raises(ValidationFailed):  # a deleted message cannot be shown
        world.branches.switch(alice, talk.id, sent.assistant_message.id)


def test_a_fork_copies_the_path_and_keeps_timestamps(world, alice, talk):
    first = world.chat.send(alice, talk.id, "one")
    world.chat.send(alice, talk.id, "two")
    fork = world.branches.fork(alice, talk.id, first.assistant_message.id)
    copied = world.talks.all_messages(alice, fork.id)
    assert contents(copied) == ["one", "Echo: one"] and fork.name == "Plans (fork)"
    assert copied[0].created_at == first.user_message.created_at
    assert copied[1].parent_id == copied[0].id and copied[0].parent_id is None
    assert fork.current_leaf_id == copied[1].id and fork.message_count == 2


def test_a_share_is_a_snapshot_that_ends_when_revoked_or_expired(world, alice, talk):
    world.chat.send(alice, talk.id, "one")
    share = world.shares.create(alice, talk.id)
    world.chat.send(alice, talk.id, "two")
    read = world.shares.read(share.id)
    assert [(m.role, m.content) for m in read.messages] == [("user", "one"),
                                                            ("assistant", "Echo: one")]
    assert read.messages[0].model is None and read.messages[1].model
    assert len(share.id) >= 22
    with pytest.raises(ValidationFailed):
        world.shares.create(alice, talk.id, expires_at=utcnow() - timedelta(seconds=1))
    bob = world.user("bob@example.com")
    with pytest.raises(NotFound):
        world.shares.revoke(bob, share.id)
    copy = world.shares.fork(bob, share.id)
    assert copy.user_id == bob and contents(world.talks.all_messages(bob, copy.id)) == [
        "one", "Echo: one"]
    world.shares.revoke(alice, share.id)
    with pytest.raises(NotFound):
        world.shares.read(share.id)
    soon = world.shares.create(alice, talk.id, expires_at=utcnow() + timedelta(hours=1))
    world.share_repo.collection.update_one({"_id": soon.id}, {"$set": {
        "expires_at": utcnow() - timedelta(seconds=1)}})
    with pytest.raises(NotFound):
        world.shares.fork(bob, soon.id)


def test_a_viewer_reads_the_tree_but_cannot_switch_fork_share_or_edit(world, alice):
    bob = world.identity.actor("bob@example.com")
    team, _ = world.identity.workspaces.create(bob, "Team")
    world.identity.workspaces.add_member(bob, team.id, "alice@example.com", WorkspaceRole.MEMBER)
    talk = world.talks.create(alice, team.id)
    sent = world.chat.send(alice, talk.id, "hi")
    world.identity.workspaces.change_member_role(bob, team.id, alice, WorkspaceRole.VIEWER)
    assert len(world.branches.tree(alice, talk.id).nodes) == 2
    for attempt in (lambda: world.branches.switch(alice, talk.id, sent.user_message.id),
                    lambda: world.branches.fork(alice, talk.id, sent.user_message.id),
                    lambda: world.shares.create(alice, talk.id),
                    lambda: world.chat.edit(alice, talk.id, sent.user_message.id, "x")):
        with pytest.raises(Forbidden):
            attempt()
    assert len(list(world.message_repo.all(talk.id))) == 2


def test_a_failed_reply_on_the_path_is_shown_but_not_sent_to_the_model(world, alice, talk):
    world.chat.send(alice, talk.id, "one")
    world.gateway.fail = 1
    with pytest.raises(UpstreamError):
        world.chat.send(alice, talk.id, "two")
    world.chat.send(alice, talk.id, "three")
    assert [m.status for m in world.talks.all_messages(alice, talk.id)] == [
        DONE, DONE, DONE, MessageStatus.FAILED, DONE, DONE]
    assert [m["content"] for m in world.gateway.requests[-1].messages] == [
        "one", "Echo: one", "two", "three"]


def test_children_under_a_long_deleted_run_all_hang_from_the_nearest_live_ancestor():
    run = [node("r", None, seq=1)]
    for index in range(1, 300):
        run.append(node(f"d{index}", run[-1].id, A, seq=index + 1, deleted=True))
    children = [node(f"c{index}", "d299", seq=400 + index) for index in range(50)]
    shown = {n.id: n.parent_id for n in visible_tree([*run, *children])}
    assert shown == {"r": None, **{f"c{index}": "r" for index in range(50)}}


def test_switching_to_a_leaf_reads_one_message_not_the_talk_s_shape(world, alice, talk,
                                                                   monkeypatch):
    sent = world.chat.send(alice, talk.id, "hi")
    world.chat.regenerate(alice, talk.id, sent.assistant_message.id)
    read = []
    nodes = world.message_repo.nodes
    monkeypatch.setattr(world.message_repo, "nodes", lambda talk_id: read.append(talk_id)
                        or nodes(talk_id))
    switched = world.branches.switch(alice, talk.id, sent.assistant_message.id)
    assert switched.current_leaf_id == sent.assistant_message.id and read == []
    back = world.branches.switch(alice, talk.id, sent.user_message.id)  # below it: two leaves
    assert back.current_leaf_id != sent.assistant_message.id and read == [talk.id]
