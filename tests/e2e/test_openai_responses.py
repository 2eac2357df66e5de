"""The Responses API (`/v1/responses`) through the official `openai` SDK and LangChain, on the
app through httpx's WSGI transport, with the mock provider behind: plain, streamed (every event
checked against the SDK's own types), chained with previous_response_id, retrieved, function
tools, `store: false`, refusals naming their parameter, budgets and usage as for chat."""
from __future__ import annotations

import httpx
import openai
import pytest
from bson import ObjectId
from openai.types.responses import Response, ResponseStreamEvent
from pydantic import TypeAdapter

from tests.support.fixtures import MOCK_DEFAULT_MODEL
from tests.support.gateway import bearer, create_key
from tests.support.mock_provider import PRIMARY

EVENTS = TypeAdapter(ResponseStreamEvent)
WEATHER = {"type": "function", "name": "get_weather", "description": "Weather in a city",
           "parameters": {"type": "object", "properties": {"q": {"type": "string"}},
                          "required": ["q"]}}


def sdk_for(app, secret: str) -> openai.OpenAI:
    http = httpx.Client(transport=httpx.WSGITransport(app=app), base_url="http://testserver")
    return openai.OpenAI(base_url="http://testserver/v1", api_key=secret, max_retries=0,
                         http_client=http)


@pytest.fixture
def owner(api):
    return api.register()


@pytest.fixture
def key(api, owner):
    return create_key(api, owner, api.personal_workspace(owner))


@pytest.fixture
def sdk(app, key):
    client = sdk_for(app, key["key"])
    yield client
    client.close()


def strict(response: openai.types.responses.Response) -> Response:
    """The response re-validated strictly against the SDK's type (the SDK itself is lenient)."""
    return Response.model_validate(response.model_dump(mode="json", exclude_unset=True))


def test_a_plain_response_answers_a_string_input(sdk, mock_provider):
    response = sdk.responses.create(model=MOCK_DEFAULT_MODEL, input="hello there")
    strict(response)
    assert response.output_text == "Echo: hello there"
    assert response.id.startswith("resp_") and response.status == "completed"
    assert response.object == "response" and response.model == MOCK_DEFAULT_MODEL
    assert response.usage.input_tokens > 0 and response.usage.output_tokens == 3
    assert response.usage.total_tokens == response.usage.input_tokens + 3
    assert mock_provider.calls(PRIMARY)[-1]["messages"] == [
        {"role": "user", "content": "hello there"}]


def test_instructions_and_items_become_the_chat_messages(sdk, mock_provider):
    response = sdk.responses.create(
        model=MOCK_DEFAULT_MODEL, instructions="Be brief.", max_output_tokens=50,
        temperature=0.3, input=[
            {"role": "user", "content": "first"},
            {"type": "message", "role": "assistant", "content": [
                {"type": "output_text", "text": "ok"}]},
            {"type": "message", "role": "user", "content": [
                {"type": "input_text", "text": "second"}]}])
    assert response.output_text == "Echo: second"
    assert response.instructions == "Be brief." and response.max_output_tokens == 50
    sent = mock_provider.calls(PRIMARY)[-1]
    assert sent["messages"][0] == {"role": "system", "content": "Be brief."}
    assert [m["role"] for m in sent["messages"]] == ["system", "user", "assistant", "user"]
    assert sent["max_tokens"] == 50 and sent["temperature"] == 0.3


def test_every_response_id_is_new_and_is_retrieved(sdk, mock_provider):
    first = sdk.responses.create(model=MOCK_DEFAULT_MODEL, input="one")
    second = sdk.responses.create(model=MOCK_DEFAULT_MODEL, input="one")
    assert first.id != second.id
    assert first.output[0].id != second.output[0].id
    retrieved = sdk.responses.retrieve(first.id)
    assert retrieved.model_dump() == first.model_dump()


def test_a_streamed_response_sends_openais_typed_events_in_order(sdk, mock_provider):
    with sdk.responses.create(model=MOCK_DEFAULT_MODEL, input="stream this please",
                              stream=True) as stream:
        events = list(stream)
    for event in events:  # each one valid under the SDK's own (strict) types
        EVENTS.validate_python(event.model_dump(mode="json", exclude_unset=True))
    kinds = [event.type for event in events]
    deltas = kinds.count("response.output_text.delta")
    assert kinds == ["response.created", "response.in_progress", "response.output_item.added",
                     "response.content_part.added", *["response.output_text.delta"] * deltas,
                     "response.output_text.done", "response.content_part.done",
                     "response.output_item.done", "response.completed"]
    assert deltas == 4
    assert [event.sequence_number for event in events] == list(range(len(events)))
    created, completed = events[0].response, events[-1].response
    assert created.status == "in_progress" and completed.status == "completed"
    assert created.id == completed.id
    text = "".join(e.delta for e in events if e.type == "response.output_text.delta")
    assert text == "Echo: stream this please" == completed.output_text
    item_ids = {e.item_id for e in events if hasattr(e, "item_id")}
    assert item_ids == {completed.output[0].id}
    assert completed.usage.output_tokens == 4
    assert sdk.responses.retrieve(completed.id).output_text == text


def test_a_follow_up_continues_the_stored_conversation_without_its_instructions(
        sdk, mock_provider):
    first = sdk.responses.create(model=MOCK_DEFAULT_MODEL, input="my name is Ana",
                                 instructions="Speak like a pirate.")
    second = sdk.responses.create(input="what is my name?", previous_response_id=first.id)
    assert second.previous_response_id == first.id and second.model == MOCK_DEFAULT_MODEL
    assert second.output_text == "Echo: what is my name?"
    assert mock_provider.calls(PRIMARY)[-1]["messages"] == [
        {"role": "user", "content": "my name is Ana"},
        {"role": "assistant", "content": "Echo: my name is Ana"},
        {"role": "user", "content": "what is my name?"}]
    third = sdk.responses.create(model=MOCK_DEFAULT_MODEL, input="again",
                                 previous_response_id=second.id, instructions="Be terse.")
    sent = mock_provider.calls(PRIMARY)[-1]["messages"]
    assert sent[0] == {"role": "system", "content": "Be terse."} and len(sent) == 6
    assert third.output_text == "Echo: again"


def test_a_function_tool_is_called_and_its_output_answered(sdk, mock_provider):
    mock_provider.behave(PRIMARY, call_tools=True)
    asked = sdk.responses.create(model=MOCK_DEFAULT_MODEL, input="Lisbon", tools=[WEATHER])
    strict(asked)
    calls = [item for item in asked.output if item.type == "function_call"]
    assert [(c.name, c.arguments) for c in calls] == [("get_weather", '{"q": "Lisbon"}')]
    sent_tools = mock_provider.calls(PRIMARY)[-1]["tools"]
    assert sent_tools[0]["function"]["name"] == "get_weather"
    assert sent_tools[0]["function"]["parameters"] == WEATHER["parameters"]

    answered = sdk.responses.create(
        model=MOCK_DEFAULT_MODEL, previous_response_id=asked.id, tools=[WEATHER],
        input=[{"type": "function_call_output", "call_id": calls[0].call_id,
                "output": "sunny, 24C"}])
    assert answered.output_text == "The tool said: sunny, 24C"
    messages = mock_provider.calls(PRIMARY)[-1]["messages"]
    assert [m["role"] for m in messages] == ["user", "assistant", "tool"]
    assert messages[1]["tool_calls"][0]["id"] == calls[0].call_id
    assert messages[2]["tool_call_id"] == calls[0].call_id


def test_a_streamed_function_call_sends_the_function_call_events(sdk, mock_provider):
    mock_provider.behave(PRIMARY, call_tools=True)
    events = list(sdk.responses.create(model=MOCK_DEFAULT_MODEL, input="Porto", tools=[WEATHER],
                                       stream=True))
    for event in events:
        EVENTS.validate_python(event.model_dump(mode="json", exclude_unset=True))
    assert [e.type for e in events] == [
        "response.created", "response.in_progress", "response.output_item.added",
        "response.function_call_arguments.delta", "response.function_call_arguments.done",
        "response.output_item.done", "response.completed"]
    done = events[-3]
    assert (done.name, done.arguments) == ("get_weather", '{"q": "Porto"}')
    assert events[-1].response.output[0].call_id == events[2].item.call_id


def test_a_response_not_stored_cannot_be_retrieved_or_continued(sdk, mock_provider):
    unstored = sdk.responses.create(model=MOCK_DEFAULT_MODEL, input="forget me", store=False)
    assert unstored.store is False and unstored.output_text == "Echo: forget me"
    with pytest.raises(openai.NotFoundError):
        sdk.responses.retrieve(unstored.id)
    with pytest.raises(openai.BadRequestError) as refused:
        sdk.responses.create(model=MOCK_DEFAULT_MODEL, input="hi",
                             previous_response_id=unstored.id)
    assert refused.value.param == "previous_response_id"
    assert refused.value.code == "previous_response_not_found"


def test_another_workspaces_response_is_not_found(app, api, sdk, mock_provider):
    mine = sdk.responses.create(model=MOCK_DEFAULT_MODEL, input="private")
    stranger = api.register()
    other = sdk_for(app, create_key(api, stranger, api.personal_workspace(stranger))["key"])
    with pytest.raises(openai.NotFoundError):
        other.responses.retrieve(mine.id)
    with pytest.raises(openai.BadRequestError) as refused:
        other.responses.create(model=MOCK_DEFAULT_MODEL, input="hi",
                               previous_response_id=mine.id)
    assert refused.value.param == "previous_response_id"
    stranger_token = openai.OpenAI(
        base_url="http://testserver/v1", api_key=stranger.access_token, max_retries=0,
        http_client=httpx.Client(transport=httpx.WSGITransport(app=app)))
    with pytest.raises(openai.NotFoundError):
        stranger_token.responses.retrieve(mine.id)


def test_a_user_token_reads_the_responses_of_its_workspace(app, api, owner, sdk, mock_provider):
    made_with_key = sdk.responses.create(model=MOCK_DEFAULT_MODEL, input="shared")
    by_token = sdk_for(app, owner.access_token)
    assert by_token.responses.retrieve(made_with_key.id).output_text == "Echo: shared"


@pytest.mark.parametrize("extra, param", [
    ({"frobnicate": 1}, "frobnicate"),
    ({"conversation": "conv_1"}, "conversation"),
    ({"prompt": {"id": "pmpt_1"}}, "prompt"),
    ({"api_base": "http://169.254.169.254"}, "api_base"),
    ({"tools": [{"type": "web_search"}]}, "tools[0].type"),
    ({"tools": [WEATHER, {"type": "file_search", "vector_store_ids": ["vs"]}]}, "tools[1].type"),
    ({"background": True}, "background"),
])
def test_an_unsupported_parameter_is_400_naming_itself(sdk, mock_provider, extra, param):
    with pytest.raises(openai.BadRequestError) as refused:
        sdk.responses.create(model=MOCK_DEFAULT_MODEL, input="hi", extra_body=extra)
    assert refused.value.param == param
    assert refused.value.body["type"] == "invalid_request_error"
    assert mock_provider.requests == []


def test_an_invalid_value_names_its_field(sdk, mock_provider):
    with pytest.raises(openai.UnprocessableEntityError) as refused:
        sdk.responses.create(model=MOCK_DEFAULT_MODEL, input="hi", temperature=5)
    assert refused.value.param == "temperature"
    with pytest.raises(openai.UnprocessableEntityError) as missing:
        sdk.responses.create(model=MOCK_DEFAULT_MODEL, extra_body={"input": None})
    assert missing.value.param == "input"
    assert mock_provider.requests == []


def test_parameters_are_passed_on_as_their_chat_completion_names(sdk, mock_provider):
    sdk.responses.create(model=MOCK_DEFAULT_MODEL, input="hi", top_p=0.5,
                         text={"format": {"type": "json_object"}}, service_tier="auto",
                         prompt_cache_key="k1", safety_identifier="s-1", metadata={"a": "b"},
                         truncation="disabled", include=[], parallel_tool_calls=False)
    sent = mock_provider.calls(PRIMARY)[-1]
    assert sent["top_p"] == 0.5
    assert sent["response_format"] == {"type": "json_object"}
    assert (sent["service_tier"], sent["prompt_cache_key"], sent["safety_identifier"]) == (
        "auto", "k1", "s-1")
    assert "metadata" not in sent and "truncation" not in sent


def test_an_unknown_model_is_404_model_not_found(sdk, mock_provider):
    for stream in (False, True):
        with pytest.raises(openai.NotFoundError) as missing:
            sdk.responses.create(model="nope/none", input="hi", stream=stream)
        assert missing.value.code == "model_not_found"
    assert mock_provider.requests == []


def test_a_spent_budget_refuses_a_response_before_the_provider(app, api, owner, mock_provider):
    capped = sdk_for(app, create_key(api, owner, api.personal_workspace(owner),
                                     monthly_budget_usd=0)["key"])
    for stream in (False, True):
        with pytest.raises(openai.APIStatusError) as refused:
            capped.responses.create(model=MOCK_DEFAULT_MODEL, input="hi", stream=stream)
        assert (refused.value.status_code, refused.value.code) == (402, "budget_exceeded")
    assert mock_provider.requests == []


def test_a_response_leaves_one_usage_record_like_a_chat_call(app, sdk, key, mock_provider):
    container = app.extensions["synapscale"]
    sdk.responses.create(model=MOCK_DEFAULT_MODEL, input="count me")
    list(sdk.responses.create(model=MOCK_DEFAULT_MODEL, input="count me too", stream=True))
    container.usage.flush()
    records = list(container.db.usage.find({"api_key_id": ObjectId(key["id"])}))
    assert [(r["source"], r["status"], r["model"]) for r in records] == [
        ("openai_responses", "success", MOCK_DEFAULT_MODEL)] * 2
    assert all(r["cost_usd"] > 0 and r["completion_tokens"] > 0 for r in records)


def test_langchain_chat_openai_uses_the_responses_api(app, key, mock_provider):
    from langchain_openai import ChatOpenAI

    http = httpx.Client(transport=httpx.WSGITransport(app=app), base_url="http://testserver")
    chat = ChatOpenAI(model=MOCK_DEFAULT_MODEL, base_url="http://testserver/v1",
                      api_key=key["key"], use_responses_api=True, max_retries=0,
                      http_client=http)
    reply = chat.invoke("hello from langchain")
    assert reply.text == "Echo: hello from langchain"
    assert reply.response_metadata["id"].startswith("resp_")
    streamed = "".join(chunk.text for chunk in chat.stream("streamed from langchain"))
    assert streamed == "Echo: streamed from langchain"

    mock_provider.behave(PRIMARY, call_tools=True)
    tooled = chat.bind_tools([WEATHER]).invoke("Faro")
    assert [(c["name"], c["args"]) for c in tooled.tool_calls] == [("get_weather", {"q": "Faro"})]


def test_openapi_documents_the_responses_routes(client):
    paths = client.get("/openapi.json").get_json()["paths"]
    assert {"post"} <= set(paths["/v1/responses"])
    assert "get" in paths["/v1/responses/{response_id}"]
    assert "post" in paths["/v1/embeddings"] and "post" in paths["/v1/completions"]


def test_a_bad_key_is_an_authentication_error(client):
    response = client.post("/v1/responses", json={"input": "hi"},
                           headers=bearer("sk-syn-not-a-key"))
    assert response.status_code == 401
    assert response.get_json()["error"]["type"] == "authentication_error"


@pytest.mark.parametrize("settings_overrides", [{"ratelimit_llm": "3 per minute"}])
def test_responses_share_the_model_call_rate_limit_of_chat(client, key, mock_provider):
    headers = bearer(key["key"])
    calls = [("/v1/responses", {"model": MOCK_DEFAULT_MODEL, "input": "one"}),
             ("/v1/chat/completions", {"model": MOCK_DEFAULT_MODEL,
                                       "messages": [{"role": "user", "content": "two"}]}),
             ("/v1/completions", {"model": MOCK_DEFAULT_MODEL, "prompt": "three"}),
             ("/v1/responses", {"model": MOCK_DEFAULT_MODEL, "input": "four"})]
    statuses = [client.post(path, json=body, headers=headers).status_code
                for path, body in calls]
    assert statuses == [200, 200, 200, 429]
    assert len(mock_provider.requests) == 3


def test_a_retried_response_with_its_idempotency_key_is_made_once(sdk, mock_provider):
    """A client retrying a lost answer with the same Idempotency-Key gets the first response:
    one model call, one stored response (issue 17's rule on every creating route)."""
    headers = {"Idempotency-Key": "retry-of-resp-1"}
    first = sdk.responses.create(model=MOCK_DEFAULT_MODEL, input="once", extra_headers=headers)
    again = sdk.responses.create(model=MOCK_DEFAULT_MODEL, input="once", extra_headers=headers)
    assert again.id == first.id and again.output_text == first.output_text
    assert len(mock_provider.calls(PRIMARY)) == 1
    with pytest.raises(openai.ConflictError):
        sdk.responses.create(model=MOCK_DEFAULT_MODEL, input="another", extra_headers=headers)


def test_a_retried_legacy_completion_with_its_idempotency_key_is_made_once(sdk, mock_provider):
    headers = {"Idempotency-Key": "retry-of-cmpl-1"}
    first = sdk.completions.create(model=MOCK_DEFAULT_MODEL, prompt="once", extra_headers=headers)
    again = sdk.completions.create(model=MOCK_DEFAULT_MODEL, prompt="once", extra_headers=headers)
    assert again.id == first.id and len(mock_provider.calls(PRIMARY)) == 1
