"""OpenAICompletions: a key works in its own workspace with member rights and skips the
membership lookups; a user token goes through the usual access rules. And the metering hooks."""
from __future__ import annotations

import pytest

from entities.actor import Actor
from entities.errors import Forbidden, NotFound
from entities.llm import UsageRecord
from tests.fakes.gateway import FakeProviderCredentials, meter_without_budgets, usage_repository
from tests.fakes.metrics import FakeMetrics
from tests.fakes.shared import FakeEventBus
from tests.fakes.workspaces import FakeAccess
from tests.unit.test_llm_chat import WORKSPACE_KEYS, answering_hi, hello
from use_cases.gateway.llm_chat import LLMChat
from use_cases.gateway.openai_compat import CachedCredentials, KeyGrantedAccess, OpenAICompletions
from use_cases.gateway.usage_recorder import UsageRecorder
from use_cases.metrics.metering import MeteredEvents, MeteredUsageRecorder
from use_cases.shared.global_feed import TOPIC as GLOBAL_TOPIC
from use_cases.shared.global_feed import FailoverNotices
from use_cases.workflows.events import ExecutionEvents

KEY_ACTOR = Actor("creator", api_key_id="key-1", api_key_workspace_id="ws-key")


@pytest.fixture
def user_access():
    return FakeAccess(strangers=("stranger",))


@pytest.fixture
def gateway():
    return answering_hi()


@pytest.fixture
def repo():
    return usage_repository()


@pytest.fixture
def recorder(repo):
    recorder = UsageRecorder(repo, flush_interval=60)
    yield recorder
    recorder.close()


@pytest.fixture
def completions(gateway, user_access, recorder):
    meter = meter_without_budgets(gateway, recorder)
    user_chat = LLMChat(gateway, FakeProviderCredentials(WORKSPACE_KEYS), user_access, meter)
    key_chat = LLMChat(gateway, FakeProviderCredentials(WORKSPACE_KEYS), KeyGrantedAccess(), meter)
    return OpenAICompletions(user_chat, key_chat)


def test_a_key_calls_in_its_own_workspace_without_membership_lookups(completions, gateway,
                                                                     user_access, recorder, repo):
    completions.complete(KEY_ACTOR, None, hello())
    recorder.flush()
    (record,) = repo.records
    assert (record.workspace_id, record.user_id, record.api_key_id, record.source) == (
        "ws-key", "creator", "key-1", "openai")
    assert user_access.calls == [] and len(gateway.requests) == 1


def test_a_key_naming_another_workspace_finds_nothing(completions, gateway):
    with pytest.raises(NotFound):
        completions.complete(KEY_ACTOR, "ws-other", hello())
    assert gateway.requests == []


def test_a_user_token_goes_through_workspace_access(completions, user_access):
    completions.complete(Actor("u1"), "ws-1", hello())
    assert user_access.calls == [("u1", "ws-1", "member")]
    with pytest.raises(NotFound):
        completions.stream(Actor("stranger"), "ws-1", hello())


def test_a_stream_without_a_model_names_the_default_one_from_the_start(completions, gateway):
    model, chunks = completions.stream(KEY_ACTOR, None, hello())
    assert model == "fake/model" and [c.delta for c in chunks][:2] == ["h", "i"]
    assert gateway.requests[-1].model == "fake/model"


def test_a_key_has_member_rights_only():
    assert KeyGrantedAccess().require("u", "ws", "member").role.value == "member"
    with pytest.raises(Forbidden):
        KeyGrantedAccess().require("u", "ws", "admin")


def test_cached_credentials_are_read_once_per_ttl():
    inner = FakeProviderCredentials()
    cached = CachedCredentials(inner, ttl_s=60)
    for _ in range(3):
        cached.for_workspace("ws")
    cached.for_workspace("other")
    assert inner.reads == 2


def test_every_recorded_model_call_is_counted_in_the_metrics(repo):
    metrics = FakeMetrics()
    recorder = MeteredUsageRecorder(repo, metrics, FailoverNotices(FakeEventBus()),
                                    flush_interval=60)
    recorder.record(UsageRecord("ws", "u", "m", "p", "error", "talk"))
    recorder.close()
    assert metrics.calls == [("llm", "m", "error")] and len(repo.records) == 1


def test_a_call_answered_by_a_fallback_is_told_once_a_while_on_the_global_feed(repo):
    bus, now = FakeEventBus(), [0.0]
    recorder = MeteredUsageRecorder(repo, FakeMetrics(),
                                    FailoverNotices(bus, quiet_s=60, clock=lambda: now[0]),
                                    flush_interval=60)
    answered_by_b = UsageRecord("ws", "u", "b", "p", "success", "talk", fallback_from="a")
    recorder.record(UsageRecord("ws", "u", "a", "p", "success", "talk"))
    recorder.record(answered_by_b)
    recorder.record(answered_by_b)
    now[0] = 61.0
    recorder.record(answered_by_b)
    recorder.close()
    told = bus.on(GLOBAL_TOPIC)
    assert [(e["type"], e["model"], e["answered_by"]) for e in told] == \
        [("provider.failover", "a", "b")] * 2
    assert told[0]["workspace_id"] == "ws" and told[0]["source"] == "talk"


def test_workflow_runs_are_counted_when_their_final_event_is_published():
    metrics, bus = FakeMetrics(), FakeEventBus()
    events = MeteredEvents(bus, metrics)
    events.publish("execution:e1", {"type": "node_completed"})
    events.publish("execution:e1", {"type": "execution_failed",
                                    "execution": {"status": "failed"}})
    ExecutionEvents(events).publish("e2", [
        {"type": "node_completed"},
        {"type": "execution_completed", "execution": {"status": "succeeded"}}])
    events.publish("user:u1", {"type": "workflow.execution.failed"})
    assert metrics.calls == [("workflow", "failed"), ("workflow", "succeeded")]
    assert len(bus.published) == 4
