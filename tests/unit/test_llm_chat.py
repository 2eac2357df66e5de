from __future__ import annotations

import pytest

from entities.errors import BudgetExceeded, NotFound, UpstreamError, ValidationFailed
from entities.llm import ChatRequest, ProviderCredential, Usage
from entities.workspace import Workspace, WorkspaceSettings
from tests.fakes.gateway import (
    MODEL,
    FakeLLMGateway,
    FakeProviderCredentials,
    budgets_on_fakes,
    meter_without_budgets,
    usage_repository,
)
from tests.fakes.workspaces import FakeAccess, workspace_repository
from use_cases.gateway.llm_chat import LLMChat
from use_cases.gateway.metered_call import ModelCallMeter
from use_cases.gateway.usage_recorder import UsageRecorder

WORKSPACE_KEY = ProviderCredential("openai", "sk-ws")
WORKSPACE_KEYS = {"ws-keys": {"openai": WORKSPACE_KEY}}


def answering_hi() -> FakeLLMGateway:
    """One model, available with provider keys only, answering "hi" a character at a time."""
    return FakeLLMGateway("hi", usage=Usage(3, 2, 0.01), models=[MODEL], keys_required=True,
                          chunks="characters")


@pytest.fixture
def repo():
    return usage_repository()


@pytest.fixture
def gateway():
    return answering_hi()


@pytest.fixture
def access():
    return FakeAccess(strangers=("stranger",))


@pytest.fixture
def recorder(repo):
    recorder = UsageRecorder(repo, flush_interval=60)
    yield recorder
    recorder.close()


@pytest.fixture
def chat(gateway, access, recorder):
    return LLMChat(gateway, FakeProviderCredentials(WORKSPACE_KEYS), access,
                   meter_without_budgets(gateway, recorder))


def hello(**kwargs) -> ChatRequest:
    return ChatRequest(messages=[{"role": "user", "content": "hello"}], **kwargs)


def test_a_chat_uses_the_workspace_keys_and_the_default_model(chat, gateway, access):
    result = chat.chat("u1", "ws-keys", hello())

    assert result.content == "hi"
    sent = gateway.requests[-1]
    assert sent.model == "fake/model" and sent.credentials == {"openai": WORKSPACE_KEY}
    assert access.calls == [("u1", "ws-keys", "member")]


def test_a_chat_is_recorded_as_usage(chat, recorder, repo):
    chat.chat("u1", "ws-1", hello(model="fake/model"), api_key_id="k1", source="openai")
    recorder.flush()

    [record] = repo.records
    assert (record.workspace_id, record.user_id, record.api_key_id) == ("ws-1", "u1", "k1")
    assert (record.model, record.status, record.source) == ("fake/model", "success", "openai")
    assert (record.prompt_tokens, record.completion_tokens, record.cost_usd) == (3, 2, 0.01)


def test_no_workspace_means_the_personal_workspace(chat, recorder, repo):
    chat.chat("u1", None, hello())
    recorder.flush()

    assert repo.records[0].workspace_id == "personal-u1"


def test_a_non_member_cannot_chat_and_nothing_is_called(chat, gateway):
    with pytest.raises(NotFound):
        chat.chat("stranger", "ws-1", hello())

    assert gateway.requests == []


def test_a_spent_budget_stops_the_call_before_the_provider(gateway, access, recorder):
    workspaces = workspace_repository()
    workspaces.add(Workspace(id="", name="Team", owner_id="u1",
                             settings=WorkspaceSettings(monthly_budget_usd=0.0)))
    [workspace] = workspaces.rows.values()
    budgets = budgets_on_fakes(workspaces=workspaces)
    chat = LLMChat(gateway, FakeProviderCredentials(WORKSPACE_KEYS), FakeAccess(),
                   ModelCallMeter(gateway, budgets, recorder))

    with pytest.raises(BudgetExceeded):
        chat.chat("u1", workspace.id, hello(), api_key_id="k1")

    assert gateway.requests == []


def test_empty_messages_are_rejected(chat, gateway):
    with pytest.raises(ValidationFailed):
        chat.chat("u1", "ws-1", ChatRequest(messages=[]))

    assert gateway.requests == []


def test_a_failed_call_is_recorded_as_an_error(chat, gateway, recorder, repo):
    gateway.error = UpstreamError("provider down")

    with pytest.raises(UpstreamError):
        chat.chat("u1", "ws-1", hello())
    with pytest.raises(UpstreamError):
        chat.chat_stream("u1", "ws-1", hello())
    recorder.flush()

    assert [(r.status, r.error) for r in repo.records] == [("error", "upstream_error")] * 2


def test_a_stream_is_recorded_once_it_finishes(chat, recorder, repo):
    chunks = list(chat.chat_stream("u1", "ws-1", hello()))
    recorder.flush()

    assert "".join(c.delta for c in chunks) == "hi" and chunks[-1].result is not None
    assert [r.status for r in repo.records] == ["success"]


def test_a_stream_abandoned_midway_is_recorded_as_cancelled(chat, recorder, repo):
    stream = chat.chat_stream("u1", "ws-1", hello())
    next(stream)
    stream.close()
    recorder.flush()

    assert [(r.status, r.error) for r in repo.records] == [("error", "cancelled")]


def test_models_are_listed_with_the_workspace_keys(chat, access):
    assert chat.models("u1", "ws-keys")[0].available
    assert not chat.models("u1", "ws-other")[0].available
    assert access.calls[0] == ("u1", "ws-keys", "viewer")
