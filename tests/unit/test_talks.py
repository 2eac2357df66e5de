from __future__ import annotations

import json
from datetime import timedelta

import pytest

from entities.clock import utcnow
from entities.errors import Forbidden, NotFound, ValidationFailed
from entities.talk import Message, MessageRole, MessageStatus, snippet_around, title_from
from entities.workspace import WorkspaceRole
from tests.fakes.chat import TalkWorld
from tests.fakes.gateway import MODEL


@pytest.fixture
def world():
    return TalkWorld()


@pytest.fixture
def alice(world):
    return world.identity.actor("alice@example.com")


@pytest.fixture
def bob(world):
    return world.identity.actor("bob@example.com")


def team_with(world, owner, member, role=WorkspaceRole.MEMBER):
    workspace, _ = world.identity.workspaces.create(owner, "Team")
    world.identity.workspaces.add_member(owner, workspace.id, "alice@example.com", role)
    return workspace.id


def test_a_talk_is_created_in_the_personal_workspace_by_default(world, alice):
    talk = world.talks.create(alice.user_id, None, name=" Plans ", tags=["a", "a", " b "])
    assert talk.workspace_id == world.workspace_of(alice.user_id)
    assert (talk.name, talk.tags, talk.user_id) == ("Plans", ["a", "b"], alice.user_id)
    assert world.events.on(f"user:{alice.user_id}")[0]["type"] == "talk.created"


def test_a_stranger_cannot_create_a_talk_in_a_workspace_they_are_not_in(world, alice, bob):
    with pytest.raises(NotFound):
        world.talks.create(bob.user_id, world.workspace_of(alice.user_id))


def test_a_viewer_cannot_create_talks_but_reads_their_own(world, alice, bob):
    team = team_with(world, bob, alice, WorkspaceRole.MEMBER)
    talk = world.talks.create(alice.user_id, team)
    world.identity.workspaces.change_member_role(bob, team, alice.user_id, WorkspaceRole.VIEWER)
    with pytest.raises(Forbidden):
        world.talks.create(alice.user_id, team)
    assert world.talks.visible(alice.user_id, talk.id).id == talk.id
    with pytest.raises(Forbidden):
        world.talks.update(alice.user_id, talk.id, name="x")


def test_an_owner_of_the_workspace_is_told_a_members_talk_does_not_exist(world, alice, bob):
    team = team_with(world, bob, alice)
    talk = world.talks.create(alice.user_id, team, name="private")
    for attempt in (lambda: world.talks.visible(bob.user_id, talk.id),
                    lambda: world.talks.update(bob.user_id, talk.id, name="mine"),
                    lambda: world.talks.delete(bob.user_id, talk.id),
                    lambda: world.talks.restore(bob.user_id, talk.id),
                    lambda: world.talks.export(bob.user_id, talk.id, "json"),
                    lambda: world.talks.messages_page(bob.user_id, talk.id, 10, None)):
        with pytest.raises(NotFound):
            attempt()
    assert world.talks.list(bob.user_id, team, world.page()).total == 0


def test_leaving_the_workspace_hides_ones_talks_there(world, alice, bob):
    team = team_with(world, bob, alice)
    talk = world.talks.create(alice.user_id, team)
    world.identity.workspaces.remove_member(bob, team, alice.user_id)
    with pytest.raises(NotFound):
        world.talks.visible(alice.user_id, talk.id)
    assert world.talks.list(alice.user_id, None, world.page()).total == 0


def test_an_unknown_model_is_refused(world, alice):
    with pytest.raises(ValidationFailed):
        world.talks.create(alice.user_id, None, model="nope/none")
    talk = world.talks.create(alice.user_id, None, model=MODEL)
    with pytest.raises(ValidationFailed):
        world.talks.update(alice.user_id, talk.id, model="nope/none")


def test_soft_delete_and_restore(world, alice):
    talk = world.talks.create(alice.user_id, None)
    world.talks.delete(alice.user_id, talk.id)
    with pytest.raises(NotFound):
        world.talks.visible(alice.user_id, talk.id)
    assert world.talks.list(alice.user_id, None, world.page()).total == 0
    assert world.talks.list(alice.user_id, None, world.page(), deleted=True).total == 1
    assert world.talks.restore(alice.user_id, talk.id).deleted_at is None
    assert world.talks.visible(alice.user_id, talk.id).id == talk.id


def test_search_lists_name_matches_then_message_matches_across_pages(world, alice):
    named = world.talks.create(alice.user_id, None, name="Banana bread")
    other = world.talks.create(alice.user_id, None, name="Kitchen")
    world.chat.send(alice.user_id, other.id, "banana one")
    world.chat.send(alice.user_id, other.id, "banana two")
    everything = world.talks.search(alice.user_id, "BANANA", None, world.page(size=10))
    assert everything.total == 5
    assert everything.items[0].talk_id == named.id and everything.items[0].message_id is None
    assert [hit.snippet for hit in everything.items[1:]] == [
        "Echo: banana two", "banana two", "Echo: banana one", "banana one"]
    assert {hit.talk_name for hit in everything.items[1:]} == {"Kitchen"}
    pages = [world.talks.search(alice.user_id, "banana", None, world.page(size=2, page=n))
             for n in (1, 2, 3)]
    assert [hit.snippet for page in pages for hit in page.items] == [
        hit.snippet for hit in everything.items]
    assert all(page.total == 5 for page in pages)
    with pytest.raises(ValidationFailed):
        world.talks.search(alice.user_id, "   ", None, world.page())


def test_search_skips_messages_of_deleted_talks(world, alice):
    talk = world.talks.create(alice.user_id, None, name="x")
    world.chat.send(alice.user_id, talk.id, "needle")
    world.talks.delete(alice.user_id, talk.id)
    assert world.talks.search(alice.user_id, "needle", None, world.page()).total == 0


def test_exports_carry_the_whole_conversation(world, alice):
    talk = world.talks.create(alice.user_id, None, name="Trip: Lisbon!", tags=["travel"])
    world.chat.send(alice.user_id, talk.id, "Where to eat?")
    as_json = world.talks.export(alice.user_id, talk.id, "json")
    assert as_json.filename == f"trip-lisbon-{talk.id}.json"
    body = json.loads(as_json.body)
    assert [m["role"] for m in body["messages"]] == ["user", "assistant"]
    assert body["talk"]["tags"] == ["travel"]
    markdown = world.talks.export(alice.user_id, talk.id, "markdown")
    assert markdown.content_type.startswith("text/markdown")
    assert markdown.body.startswith("# Trip: Lisbon!")
    assert f"## Assistant ({MODEL})" in markdown.body and "Echo: Where to eat?" in markdown.body
    with pytest.raises(ValidationFailed):
        world.talks.export(alice.user_id, talk.id, "pdf")


def test_deleting_a_message_counts_it_out(world, alice):
    talk = world.talks.create(alice.user_id, None)
    exchange = world.chat.send(alice.user_id, talk.id, "hello")
    world.talks.delete_message(alice.user_id, talk.id, exchange.user_message.id)
    assert world.talks.visible(alice.user_id, talk.id).message_count == 1
    with pytest.raises(NotFound):
        world.talks.delete_message(alice.user_id, talk.id, exchange.user_message.id)


def test_titles_are_one_line_and_cut_at_a_word():
    assert title_from("  Hello\n  world ") == "Hello world"
    long = title_from("word " * 40)
    assert len(long) <= 60 and long.endswith("…") and not long.endswith(" …")
    assert title_from("") == "New talk"


def test_snippets_centre_on_the_match():
    text = "a " * 200 + "NEEDLE" + " b" * 200
    snippet = snippet_around(text, "needle", width=40)
    assert "NEEDLE" in snippet and snippet.startswith("…") and snippet.endswith("…")
    assert snippet_around("short text", "text") == "short text"


def test_reading_a_talk_settles_a_reply_whose_worker_died_long_ago(world, alice):
    talk = world.talks.create(alice.user_id, None)
    orphan = world.message_repo.add(Message(
        id="", talk_id=talk.id, workspace_id=talk.workspace_id, user_id=alice.user_id,
        role=MessageRole.ASSISTANT, content="half a", status=MessageStatus.STREAMING))
    fresh = world.message_repo.add(Message(
        id="", talk_id=talk.id, workspace_id=talk.workspace_id, user_id=alice.user_id,
        role=MessageRole.ASSISTANT, content="going", status=MessageStatus.STREAMING,
        parent_id=orphan.id))
    world.message_repo.rows[orphan.id].updated_at = utcnow() - timedelta(minutes=10)
    page = world.talks.messages_page(alice.user_id, talk.id, 10, None)
    assert [m.status for m in page.items] == [MessageStatus.FAILED, MessageStatus.STREAMING]
    assert page.items[0].content == "half a" and page.items[0].error
    assert world.message_repo.rows[fresh.id].status is MessageStatus.STREAMING
