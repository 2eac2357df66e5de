from __future__ import annotations

import threading
import time
from datetime import timedelta

import pytest

from entities.clock import utcnow
from entities.errors import (
    BudgetExceeded,
    Conflict,
    NotFound,
    ServiceUnavailable,
    UpstreamError,
    UpstreamTimeout,
    ValidationFailed,
)
from entities.llm import ProviderCredential
from entities.talk import Message, MessageRole, MessageStatus
from entities.workspace import WorkspaceSettings
from tests.fakes.chat import FakeFileContext, MongomockMessageRepository, TalkWorld
from tests.fakes.gateway import MODEL, VISION_MODEL
from use_cases.chat.chat import ReplyOptions
from use_cases.chat.generations import Generation, Generations, StoredFeed, message_topic


@pytest.fixture
def world():
    return TalkWorld()


@pytest.fixture
def alice(world):
    return world.identity.actor("alice@example.com").user_id


@pytest.fixture
def talk(world, alice):
    return world.talks.create(alice, None)


def drain(feed, timeout=5.0):
    events, deadline = [], time.monotonic() + timeout
    while not feed.ended and time.monotonic() < deadline:
        event = feed.next(0.1)
        if event is not None:
            events.append(event)
    assert feed.ended, "the feed did not end"
    return events


def test_the_user_message_is_stored_before_the_model_is_called(world, alice, talk):
    seen = []
    world.gateway.on_call = lambda request: seen.append(
        [m.content for m in world.message_repo.all(talk.id)])
    exchange = world.chat.send(alice, talk.id, "Hello")
    assert seen == [["Hello"]]
    assert exchange.assistant_message.content == "Echo: Hello"
    assert exchange.assistant_message.parent_id == exchange.user_message.id
    assert exchange.assistant_message.usage.cost_usd == 0.5


def test_a_failed_reply_is_stored_and_its_error_raised_with_both_ids(world, alice, talk):
    world.gateway.error = UpstreamTimeout("too slow")
    with pytest.raises(UpstreamTimeout) as raised:
        world.chat.send(alice, talk.id, "anyone?")
    user, reply = world.message_repo.all(talk.id)
    assert (user.content, reply.status, reply.error, reply.error_code) == (
        "anyone?", MessageStatus.FAILED, "too slow", "upstream_timeout")
    assert raised.value.details == {"user_message_id": user.id, "assistant_message_id": reply.id}
    [record] = world.usage.records
    assert (record.status, record.error, record.source, record.talk_id) == (
        "error", "upstream_timeout", "talk", talk.id)


def test_an_unexpected_gateway_exception_becomes_an_upstream_error(world, alice, talk):
    world.gateway.error = RuntimeError("boom")
    with pytest.raises(UpstreamError):
        world.chat.send(alice, talk.id, "hi")
    assert [m.status for m in world.message_repo.all(talk.id)] == [
        MessageStatus.COMPLETE, MessageStatus.FAILED]


def test_usage_is_recorded_for_the_talk(world, alice, talk):
    world.chat.send(alice, talk.id, "count me")
    [record] = world.usage.records
    assert (record.source, record.talk_id, record.user_id, record.workspace_id, record.model) == (
        "talk", talk.id, alice, talk.workspace_id, MODEL)
    assert (record.prompt_tokens, record.cost_usd, record.status) == (7, 0.5, "success")


def test_the_first_exchange_names_an_unnamed_talk(world, alice, talk):
    world.chat.send(alice, talk.id, "What is the capital of Portugal?")
    world.chat.send(alice, talk.id, "And of Spain?")
    assert world.talks.visible(alice, talk.id).name == "What is the capital of Portugal?"


def test_the_context_has_both_system_prompts_and_the_history(world):
    actor = world.identity.actor("carol@example.com")
    workspace = world.workspace_of(actor.user_id)
    world.identity.workspaces.update(actor, workspace, settings={"system_prompt": "Org rules."})
    talk = world.talks.create(actor.user_id, None, system_prompt="Talk rules.")
    world.chat.send(actor.user_id, talk.id, "one")
    world.gateway.error = UpstreamError("down")
    with pytest.raises(UpstreamError):
        world.chat.send(actor.user_id, talk.id, "two")
    world.gateway.error = None
    world.chat.send(actor.user_id, talk.id, "three")
    assert world.gateway.requests[-1].messages == [
        {"role": "system", "content": "Org rules.\n\nTalk rules."},
        {"role": "user", "content": "one"},
        {"role": "assistant", "content": "Echo: one"},
        {"role": "user", "content": "two"},  # kept: nothing the user typed is lost
        {"role": "user", "content": "three"},
    ]


def test_history_is_trimmed_from_the_oldest_end_to_fit_the_window():
    world = TalkWorld()
    world.gateway.window = 200  # 100 for the prompt, 100 kept for the reply
    user = world.identity.actor("dave@example.com").user_id
    talk = world.talks.create(user, None)
    for n in range(5):
        world.chat.send(user, talk.id, f"turn{n} " + "w " * 20)
    sent = world.gateway.requests[-1].messages
    assert world.gateway.count_tokens(MODEL, sent) <= 100
    assert sent[0]["role"] == "user" and sent[-1]["content"].startswith("turn4")
    assert len(sent) < 9


def test_a_message_that_cannot_fit_is_refused_before_anything_is_stored(world, alice, talk):
    world.gateway.window = 100
    with pytest.raises(ValidationFailed):
        world.chat.send(alice, talk.id, "w " * 500)
    assert list(world.message_repo.all(talk.id)) == [] and world.gateway.requests == []


def test_the_budget_is_checked_before_anything_is_stored():
    world = TalkWorld()
    user = world.identity.actor("erin@example.com").user_id
    talk = world.talks.create(user, None)
    world.identity.workspace_repo.update(talk.workspace_id, settings=WorkspaceSettings(
        monthly_budget_usd=0.0))
    with pytest.raises(BudgetExceeded):
        world.chat.send(user, talk.id, "hi")
    assert list(world.message_repo.all(talk.id)) == [] and world.gateway.requests == []


def test_the_workspace_provider_keys_go_with_the_call(world):
    actor = world.identity.actor("frank@example.com")
    workspace = world.workspace_of(actor.user_id)
    world.identity.provider_keys.put(actor, workspace, "openai", "sk-workspace-key-1234")
    talk = world.talks.create(actor.user_id, None)
    world.chat.send(actor.user_id, talk.id, "hi")
    credentials = world.gateway.requests[-1].credentials
    assert isinstance(credentials["openai"], ProviderCredential)
    assert credentials["openai"].api_key == "sk-workspace-key-1234"


def test_a_model_from_the_request_the_talk_or_the_default(world, alice):
    talk = world.talks.create(alice, None, model=VISION_MODEL)
    world.chat.send(alice, talk.id, "a")
    world.chat.send(alice, talk.id, "b", ReplyOptions(model=MODEL))
    assert [r.model for r in world.gateway.requests] == [VISION_MODEL, MODEL]
    with pytest.raises(ValidationFailed):
        world.chat.send(alice, talk.id, "c", ReplyOptions(model="nope/none"))


def test_attached_files_need_a_file_context(world, alice, talk):
    with pytest.raises(ValidationFailed):
        world.chat.send(alice, talk.id, "see file", file_ids=["f1"])
    assert list(world.message_repo.all(talk.id)) == []


def test_attached_file_text_reaches_the_model_and_images_only_vision_models():
    files = FakeFileContext({"doc": [{"type": "text", "text": "[Attached file: a.txt]\nhello"}],
                             "img": [{"type": "image_url", "image_url": {"url": "data:x"}}]})
    world = TalkWorld(file_context=files)
    user = world.identity.actor("gina@example.com").user_id
    talk = world.talks.create(user, None)
    world.chat.send(user, talk.id, "read these", file_ids=["doc", "img"])
    assert world.gateway.requests[-1].messages[-1] == {"role": "user", "content": [
        {"type": "text", "text": "read these"},
        {"type": "text", "text": "[Attached file: a.txt]\nhello"}]}
    world.chat.send(user, talk.id, "and now?", ReplyOptions(model=VISION_MODEL))
    history = world.gateway.requests[-1].messages
    assert history[0]["content"][2]["type"] == "image_url"  # the files stay in the context
    with pytest.raises(NotFound):
        world.chat.send(user, talk.id, "missing", file_ids=["nope"])
    assert [m.content for m in world.message_repo.all(talk.id)][-1] == "Echo: and now?"


def test_regenerate_supersedes_the_old_reply(world, alice, talk):
    first = world.chat.send(alice, talk.id, "question")
    world.gateway.reply = "better"
    again = world.chat.regenerate(alice, talk.id, first.assistant_message.id)
    assert again.user_message.id == first.user_message.id
    assert again.assistant_message.content == "better"
    assert world.message_repo.rows[first.assistant_message.id].status is MessageStatus.SUPERSEDED
    assert world.gateway.requests[-1].messages == [{"role": "user", "content": "question"}]
    with pytest.raises(ValidationFailed):
        world.chat.regenerate(alice, talk.id, first.user_message.id)
    with pytest.raises(NotFound):
        world.chat.regenerate(alice, talk.id, "f" * 24)


def test_streaming_sends_every_delta_but_saves_progress_in_batches(world, alice, talk):
    world.gateway.reply = " ".join(f"w{n}" for n in range(50))
    user_message, generation = world.chat.send_streaming(alice, talk.id, "go")
    events = drain(generation.follow())
    assert events[0].type == "start" and events[-1].type == "done"
    deltas = [e for e in events if e.type == "delta"]
    assert len(deltas) == 50
    assert "".join(e.data["content"] for e in deltas) == world.gateway.reply
    assert [e.data["offset"] for e in deltas[:3]] == [0, 2, 5]
    final = events[-1].data["message"]
    assert (final.status, final.content, final.parent_id) == (
        MessageStatus.COMPLETE, world.gateway.reply, user_message.id)
    assert len(world.message_repo.progress_saves) <= 2  # first delta at once, not one per delta
    assert world.message_repo.rows[final.id].content == world.gateway.reply
    bus = world.events.on(message_topic(final.id))
    assert [e["type"] for e in bus] == ["done"]  # nobody followed from elsewhere: no deltas
    created = [e for e in world.events.on(f"user:{alice}") if e["type"] == "message.created"]
    assert [e["message"]["role"] for e in created] == ["user", "assistant"]


def test_a_followed_reply_publishes_each_saved_part_from_the_previous_save():
    world = TalkWorld(flush_interval=0.0)
    user = world.identity.actor("ivy@example.com").user_id
    talk = world.talks.create(user, None)
    world.gateway.reply = "a b c d e"
    world.gateway.gate = threading.Semaphore(0)
    _, generation = world.chat.send_streaming(user, talk.id, "go")
    world.message_repo.add_follower(generation.message.id, 1)  # another worker follows
    world.gateway.gate.release(10)
    drain(generation.follow())
    published = [e for e in world.events.on(message_topic(generation.message.id))
                 if e["type"] == "delta"]
    assert published and published[0]["offset"] == len(world.message_repo.progress_saves[0][1])
    text = world.message_repo.progress_saves[0][1]
    for event in published:
        assert event["offset"] == len(text)
        text += event["content"]
    assert text == "a b c d e"


def test_a_stream_that_fails_midway_keeps_its_partial_text_as_failed(world, alice, talk):
    world.gateway.reply = "a b c d"
    world.gateway.error = UpstreamError("cut")
    world.gateway.stream_error_after = 2
    _, generation = world.chat.send_streaming(alice, talk.id, "go")
    events = drain(generation.follow())
    assert events[-1].type == "error" and events[-1].data["code"] == "upstream_error"
    reply = world.message_repo.rows[events[0].data["message_id"]]
    assert (reply.status, reply.content) == (MessageStatus.FAILED, "a b")


def test_stop_saves_the_partial_reply_and_estimates_its_usage(world, alice, talk):
    world.gateway.reply = "one two three four five"
    world.gateway.gate = threading.Semaphore(0)
    _, generation = world.chat.send_streaming(alice, talk.id, "go")
    feed = generation.follow()
    assert feed.next(2).type == "start" and feed.next(2).type == "delta"
    threading.Timer(0.2, world.gateway.gate.release, (5,)).start()
    [stopped] = world.chat.stop(alice, talk.id)
    assert stopped.status is MessageStatus.STOPPED
    assert stopped.content == "one two"  # the chunk in flight when the stop came, no more
    assert stopped.usage.completion_tokens > 0
    assert drain(feed)[-1].data["message"].status is MessageStatus.STOPPED
    record = world.usage.records[-1]
    assert record.status == "success" and record.completion_tokens > 0


def test_stop_asked_through_the_database_is_seen_at_the_next_save():
    world = TalkWorld(flush_interval=0.0)
    user = world.identity.actor("hal@example.com").user_id
    talk = world.talks.create(user, None)
    world.gateway.reply = " ".join(f"w{n}" for n in range(20))
    world.gateway.gate = threading.Semaphore(0)
    _, generation = world.chat.send_streaming(user, talk.id, "go")
    world.message_repo.stop_flags.add(generation.message.id)  # as another worker would
    world.gateway.gate.release(20)
    final = drain(generation.follow())[-1].data["message"]
    assert final.status is MessageStatus.STOPPED and final.content.startswith("w0")
    assert len(final.content) < len(world.gateway.reply)


def test_a_second_message_while_a_reply_streams_is_a_conflict(world, alice, talk):
    world.gateway.gate = threading.Semaphore(0)
    world.gateway.reply = "a b c"
    _, generation = world.chat.send_streaming(alice, talk.id, "first")
    with pytest.raises(Conflict):
        world.chat.send(alice, talk.id, "second")
    world.gateway.gate.release(5)
    drain(generation.follow())
    world.chat.send(alice, talk.id, "third")


def test_a_reply_orphaned_long_ago_no_longer_blocks_the_talk(world, alice, talk):
    orphan = world.message_repo.add(Message(
        id="", talk_id=talk.id, workspace_id=talk.workspace_id, user_id=alice,
        role=MessageRole.ASSISTANT, content="half", status=MessageStatus.STREAMING))
    world.message_repo.rows[orphan.id].updated_at = utcnow() - timedelta(hours=1)
    world.chat.send(alice, talk.id, "hello again")
    assert world.message_repo.rows[orphan.id].status is MessageStatus.FAILED


def test_following_a_finished_reply_replays_it(world, alice, talk):
    exchange = world.chat.send(alice, talk.id, "done")
    events = drain(world.chat.follow(alice, talk.id, exchange.assistant_message.id))
    assert [e.type for e in events] == ["start", "delta", "done"]
    assert events[1].data["content"] == "Echo: done"
    with pytest.raises(NotFound):
        world.chat.follow(world.identity.actor("x@example.com").user_id, talk.id,
                          exchange.assistant_message.id)


def test_a_stored_feed_takes_only_the_text_it_has_not_sent(world, alice, talk):
    repo: MongomockMessageRepository = world.message_repo
    message = repo.add(Message(id="", talk_id=talk.id, workspace_id=talk.workspace_id,
                               user_id=alice, role=MessageRole.ASSISTANT, content="abc",
                               status=MessageStatus.STREAMING, model=MODEL))
    topic = message_topic(message.id)
    feed = StoredFeed(repo, world.events, message)
    world.events.publish(topic, {"type": "delta", "offset": 0, "content": "ab"})  # already had
    world.events.publish(topic, {"type": "delta", "offset": 2, "content": "cde"})  # overlaps
    repo.save_progress(message.id, "abcdefgh")
    world.events.publish(topic, {"type": "delta", "offset": 7, "content": "hij"})  # a gap
    repo.update(message.id, content="abcdefghijk", status=MessageStatus.COMPLETE)
    world.events.publish(topic, {"type": "done"})
    assert repo.followers[message.id] == 1  # counted, so the generating side publishes
    events = drain(feed)
    assert events[0].type == "start" and events[-1].type == "done"
    assert repo.followers[message.id] == 0
    deltas = [e.data for e in events if e.type == "delta"]
    assert "".join(d["content"] for d in deltas) == "abcdefghijk"
    assert [d["offset"] for d in deltas] == sorted(d["offset"] for d in deltas)


def test_the_pool_refuses_work_beyond_its_bound():
    pool = Generations(max_running=1, max_waiting=0)
    release = threading.Event()
    first = Generation(Message(id="m1", talk_id="t", workspace_id="w", user_id="u",
                               role=MessageRole.ASSISTANT, content=""))
    pool.start(first, lambda g: release.wait(5))
    with pytest.raises(ServiceUnavailable):
        pool.start(Generation(Message(id="m2", talk_id="t", workspace_id="w", user_id="u",
                                      role=MessageRole.ASSISTANT, content="")), lambda g: None)
    release.set()
    assert first.finished.wait(5)
    assert first._log[-1].type == "error"  # work that ends without finishing is closed for it
    pool.close()


# --- sequence numbers and resumes after one (issue 17) -----------------------------------------

def test_every_event_of_a_reply_is_numbered_and_a_local_feed_starts_after_any_number(
        world, alice, talk):
    world.gateway.reply = "a b c d e"
    _, generation = world.chat.send_streaming(alice, talk.id, "go")
    events = drain(generation.follow())
    assert [(e.type, e.seq) for e in events] == [
        ("start", 0), ("delta", 1), ("delta", 2), ("delta", 3), ("delta", 4), ("delta", 5),
        ("done", 6)]
    after = drain(generation.follow(after=3))
    assert [(e.type, e.seq) for e in after] == [("delta", 4), ("delta", 5), ("done", 6)]
    assert generation.follow(after=6).exhausted and not generation.follow(after=5).exhausted
    stored = world.message_repo.rows[generation.message.id]
    assert stored.delta_ends == [1, 3, 5, 7, 9]  # where each delta ends in "a b c d e"


def test_a_stored_feed_resumes_after_a_number_with_the_same_numbering(world, alice, talk):
    world.gateway.reply = "a b c d e"
    _, generation = world.chat.send_streaming(alice, talk.id, "go")
    drain(generation.follow())
    message = world.message_repo.rows[generation.message.id]
    whole = drain(StoredFeed(world.message_repo, world.events, message))
    assert [(e.type, e.seq) for e in whole] == [("start", 0), ("delta", 5), ("done", 6)]
    rest = drain(StoredFeed(world.message_repo, world.events, message, after=2))
    assert [(e.type, e.seq, e.data.get("content")) for e in rest] == [
        ("delta", 5, " c d e"), ("done", 6, None)]
    assert StoredFeed(world.message_repo, world.events, message, after=6).exhausted
    assert not StoredFeed(world.message_repo, world.events, message, after=5).exhausted


def test_a_stored_feed_numbers_live_batches_by_the_deltas_they_end_with(world, alice, talk):
    repo: MongomockMessageRepository = world.message_repo
    message = repo.add(Message(id="", talk_id=talk.id, workspace_id=talk.workspace_id,
                               user_id=alice, role=MessageRole.ASSISTANT, content="",
                               status=MessageStatus.STREAMING, model=MODEL, delta_ends=[]))
    repo.save_progress(message.id, "ab", [1, 2])
    topic = message_topic(message.id)
    feed = StoredFeed(repo, world.events, message, after=3)  # the client saw 3 deltas, live
    world.events.publish(topic, {"type": "delta", "offset": 2, "content": "cde",
                                 "seq": 5, "ends": [3, 4, 5]})
    repo.update(message.id, content="abcdef", delta_ends=[1, 2, 3, 4, 5, 6],
                status=MessageStatus.COMPLETE)
    world.events.publish(topic, {"type": "done"})
    events = drain(feed)
    assert [(e.type, e.seq, e.data.get("content")) for e in events] == [
        ("delta", 5, "de"), ("delta", 6, "f"), ("done", 7, None)]
