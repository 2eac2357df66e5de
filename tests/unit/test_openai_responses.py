"""OpenAIResponses: a response is one metered chat call; stored responses carry the conversation
(not the instructions) to a follow-up in the same workspace only; `store: false` keeps nothing;
a stream ends with the stored Response; a tool call rebuilt by the bridge is not sent twice."""
from __future__ import annotations

import pytest

from entities.actor import Actor
from entities.errors import InvalidParameter, NotFound
from tests.fakes.gateway import (
    FakeLLMGateway,
    FakeProviderCredentials,
    FakeResponsesTranslation,
    meter_without_budgets,
    response_repository,
    usage_repository,
)
from tests.fakes.workspaces import FakeAccess
from use_cases.gateway.llm_chat import LLMChat
from use_cases.gateway.openai_compat import KeyGrantedAccess, OpenAICompletions
from use_cases.gateway.openai_responses import (
    OpenAIResponses,
    ResponseDone,
    message_item_id,
    without_known_tool_calls,
)
from use_cases.gateway.usage_recorder import UsageRecorder

KEY = Actor("creator", api_key_id="key-1", api_key_workspace_id="ws-a")
OTHER_KEY = Actor("someone", api_key_id="key-2", api_key_workspace_id="ws-b")


@pytest.fixture
def gateway():
    return FakeLLMGateway()


@pytest.fixture
def usage():
    return usage_repository()


@pytest.fixture
def responses(gateway, usage):
    recorder = UsageRecorder(usage, flush_interval=60)
    meter = meter_without_budgets(gateway, recorder)
    chat = LLMChat(gateway, FakeProviderCredentials(), FakeAccess(), meter)
    key_chat = LLMChat(gateway, FakeProviderCredentials(), KeyGrantedAccess(), meter)
    yield OpenAIResponses(OpenAICompletions(chat, key_chat), FakeResponsesTranslation(),
                          response_repository())
    recorder.close()


def respond(responses: OpenAIResponses, actor: Actor = KEY, **request) -> dict:
    return responses.complete(actor, None, responses.start(actor, None, request))


def test_a_response_is_one_metered_chat_call_recorded_as_a_response(responses, gateway, usage):
    body = respond(responses, input="hello", max_output_tokens=30)
    assert body["output"][0]["content"][0]["text"] == "Echo: hello"
    assert body["output"][0]["id"] == message_item_id(body["id"])
    (sent,) = gateway.requests
    assert (sent.messages, sent.max_tokens) == ([{"role": "user", "content": "hello"}], 30)
    responses.completions.key_chat.meter.usage.flush()
    assert [(r.source, r.api_key_id, r.workspace_id) for r in usage.records] == [
        ("openai_responses", "key-1", "ws-a")]


def test_a_follow_up_gets_the_conversation_but_not_the_instructions(responses, gateway):
    first = respond(responses, input="one", instructions="Be brief.")
    assert gateway.requests[-1].messages[0] == {"role": "system", "content": "Be brief."}
    respond(responses, input="two", previous_response_id=first["id"])
    assert gateway.requests[-1].messages == [
        {"role": "user", "content": "one"}, {"role": "assistant", "content": "Echo: one"},
        {"role": "user", "content": "two"}]
    assert gateway.requests[-1].model == gateway.requests[0].model


def test_a_response_is_kept_in_its_workspace_only(responses):
    mine = respond(responses, input="private")
    assert responses.retrieve(KEY, None, mine["id"]) == mine
    with pytest.raises(NotFound):
        responses.retrieve(OTHER_KEY, None, mine["id"])
    with pytest.raises(InvalidParameter) as refused:
        respond(responses, OTHER_KEY, input="hi", previous_response_id=mine["id"])
    assert refused.value.param == "previous_response_id"


def test_store_false_keeps_nothing(responses, gateway):
    unstored = respond(responses, input="forget", store=False)
    with pytest.raises(NotFound):
        responses.retrieve(KEY, None, unstored["id"])
    with pytest.raises(InvalidParameter):
        respond(responses, input="hi", previous_response_id=unstored["id"])
    assert len(gateway.requests) == 1  # the refused follow-up called no model


def test_a_stream_yields_deltas_then_the_stored_response(responses):
    call = responses.start(KEY, None, {"input": "stream me"})
    model, items = responses.stream(KEY, None, call)
    *deltas, done = list(items)
    assert isinstance(done, ResponseDone) and done.body["id"] == call.id
    assert "".join(chunk.delta for chunk in deltas) == "Echo: stream me"
    assert responses.retrieve(KEY, None, call.id) == done.body
    assert responses.in_progress(call, model)["status"] == "in_progress"


def test_a_tool_call_the_history_has_is_not_sent_again():
    history = [{"role": "user", "content": "q"},
               {"role": "assistant", "content": None, "tool_calls": [{"id": "c1"}]}]
    rebuilt = {"role": "assistant", "content": None, "tool_calls": [{"id": "c1"}]}
    result = {"role": "tool", "tool_call_id": "c1", "content": "42"}
    fresh = {"role": "assistant", "content": None, "tool_calls": [{"id": "c2"}]}
    assert without_known_tool_calls(history, [rebuilt, result]) == [result]
    assert without_known_tool_calls(history, [fresh, result]) == [fresh, result]
    assert without_known_tool_calls([], [rebuilt, result]) == [rebuilt, result]
