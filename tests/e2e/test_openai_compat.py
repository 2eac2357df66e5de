"""/v1 in OpenAI's shapes: completions, streams, models, errors, passed-through parameters,
workspaces chosen by key or token, usage records and per-key rate limits."""
from __future__ import annotations

import pytest
from bson import ObjectId

from tests.support.fixtures import MOCK_DEFAULT_MODEL, MOCK_FALLBACK_MODEL
from tests.support.gateway import (
    assert_openai_error,
    bearer,
    completion,
    create_key,
    new_member,
    sse_data,
)
from tests.support.mock_provider import PRIMARY

TOOLS = [{"type": "function", "function": {"name": "lookup", "parameters": {
    "type": "object", "properties": {"q": {"type": "string"}}}}}]


@pytest.fixture
def owner(api):
    return api.register()


@pytest.fixture
def workspace(api, owner):
    return api.personal_workspace(owner)


@pytest.fixture
def key(api, owner, workspace):
    return create_key(api, owner, workspace)


def flushed_usage(app, db) -> list[dict]:
    app.extensions["synapscale"].usage.flush()
    return list(db.usage.find({}, {"_id": 0}))


def test_a_completion_has_openai_response_shape(client, key, mock_provider):
    response = completion(client, bearer(key["key"]), text="hi")
    assert response.status_code == 200
    body = response.get_json()
    assert body["object"] == "chat.completion" and body["id"].startswith("chatcmpl")
    assert body["model"] == MOCK_DEFAULT_MODEL and isinstance(body["created"], int)
    assert body["choices"] == [{"index": 0, "finish_reason": "stop", "logprobs": None,
                                "message": {"role": "assistant", "content": "Echo: hi"}}]
    usage = body["usage"]
    assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"] > 0


def test_openai_parameters_reach_the_provider(client, key, mock_provider):
    response = completion(client, bearer(key["key"]), temperature=0.3, max_tokens=12, stop="END",
                          response_format={"type": "json_object"}, tools=TOOLS,
                          tool_choice="auto", seed=7, n=1)
    assert response.status_code == 200, response.get_json()
    sent = mock_provider.calls(PRIMARY)[-1]
    assert (sent["temperature"], sent["max_tokens"], sent["stop"], sent["seed"]) == (
        0.3, 12, ["END"], 7)
    assert sent["response_format"] == {"type": "json_object"}
    assert sent["tools"] == TOOLS and sent["tool_choice"] == "auto"


def test_a_stream_sends_chunks_then_done_and_usage_only_when_asked(client, key, mock_provider):
    plain = sse_data(client.post("/v1/chat/completions", headers=bearer(key["key"]), json={
        "messages": [{"role": "user", "content": "one two"}], "stream": True}))  # default model
    assert plain[-1] == "[DONE]"
    chunks = plain[:-1]
    assert {chunk["object"] for chunk in chunks} == {"chat.completion.chunk"}
    assert len({chunk["id"] for chunk in chunks}) == 1
    assert chunks[0]["choices"][0]["delta"]["role"] == "assistant"
    text = "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks if c["choices"])
    assert text == "Echo: one two"
    assert chunks[-1]["choices"][0]["finish_reason"] == "stop"
    assert all("usage" not in chunk for chunk in chunks)
    assert {chunk["model"] for chunk in chunks} == {MOCK_DEFAULT_MODEL}

    with_usage = sse_data(completion(client, bearer(key["key"]), text="one two", stream=True,
                                     stream_options={"include_usage": True}))
    last = with_usage[-2]
    assert last["choices"] == [] and last["usage"]["completion_tokens"] == 3
    assert with_usage[-3]["choices"][0]["finish_reason"] == "stop"


def test_a_stream_response_is_an_event_stream(client, key, mock_provider):
    response = completion(client, bearer(key["key"]), stream=True)
    assert response.mimetype == "text/event-stream"
    assert response.headers["Cache-Control"] == "no-cache"


def test_n_other_than_one_is_a_400_in_openai_shape(client, key, mock_provider):
    error = assert_openai_error(completion(client, bearer(key["key"]), n=2), 400)
    assert error["type"] == "invalid_request_error"
    assert mock_provider.requests == []


def test_malformed_requests_are_refused_in_openai_shape(client, key, mock_provider):
    headers = bearer(key["key"])
    for body in ({"messages": []}, {"model": MOCK_DEFAULT_MODEL},
                 {"messages": [{"role": "wizard", "content": "x"}]},
                 {"messages": [{"role": "user", "content": "x"}], "temperature": 5}):
        assert_openai_error(client.post("/v1/chat/completions", json=body, headers=headers), 422)
    unknown = assert_openai_error(client.post("/v1/chat/completions", headers=headers, json={
        "messages": [{"role": "user", "content": "x"}], "unknown_thing": 1}), 400,
        "unknown_parameter")
    assert unknown["param"] == "unknown_thing"
    assert_openai_error(completion(client, headers, model="nope/none"), 404, "model_not_found")
    assert mock_provider.requests == []


def test_a_provider_failure_is_a_502_in_openai_shape(client, key, mock_provider):
    mock_provider.behave(None, status=500)
    assert_openai_error(completion(client, bearer(key["key"])), 502, "upstream_error")


def test_the_fallback_model_answers_when_the_primary_fails(client, key, mock_provider):
    mock_provider.behave(PRIMARY, status=500)
    body = completion(client, bearer(key["key"])).get_json()
    assert body["model"] == MOCK_FALLBACK_MODEL


def test_models_are_listed_in_openai_shape(client, key, owner):
    for headers in (bearer(key["key"]), owner.headers):
        body = client.get("/v1/models", headers=headers).get_json()
        assert body["object"] == "list"
        ids = [model["id"] for model in body["data"]]
        assert MOCK_DEFAULT_MODEL in ids
        assert all(set(model) == {"id", "object", "created", "owned_by"} and
                   model["object"] == "model" for model in body["data"])


def test_a_user_token_works_in_the_personal_workspace_or_the_one_named(api, app, db, client,
                                                                      owner, workspace,
                                                                      mock_provider):
    team = api.request("post", "/api/v1/workspaces", owner, json={"name": "Team"}).get_json()
    assert completion(client, owner.headers).status_code == 200
    assert completion(client, {**owner.headers, "X-Workspace-ID": team["id"]}).status_code == 200
    records = flushed_usage(app, db)
    assert sorted(str(r["workspace_id"]) for r in records) == sorted([workspace, team["id"]])
    assert {(r["source"], r["api_key_id"], r["user_id"]) for r in records} == {
        ("openai", None, ObjectId(owner.id))}


def test_a_workspace_the_caller_cannot_use_is_not_found(api, client, owner, workspace, key,
                                                        mock_provider):
    stranger = api.register()
    other = api.personal_workspace(stranger)
    assert_openai_error(completion(client, {**owner.headers, "X-Workspace-ID": other}), 404)
    viewer = new_member(api, owner, workspace, "viewer")
    assert_openai_error(completion(client, {**viewer.headers, "X-Workspace-ID": workspace}), 403)
    assert_openai_error(completion(client, {**bearer(key["key"]), "X-Workspace-ID": other}), 404)
    assert mock_provider.requests == []


def test_a_key_acts_in_its_own_workspace_and_its_calls_are_recorded(app, db, client, owner,
                                                                    workspace, key, mock_provider):
    completion(client, bearer(key["key"]))
    list(completion(client, bearer(key["key"]), stream=True).response)
    records = flushed_usage(app, db)
    assert len(records) == 2
    for record in records:
        assert (record["workspace_id"], record["user_id"], record["api_key_id"],
                record["source"], record["status"]) == (
            ObjectId(workspace), ObjectId(owner.id), ObjectId(key["id"]), "openai", "success")
        assert record["cost_usd"] > 0 and record["prompt_tokens"] > 0


@pytest.mark.parametrize("settings_overrides", [{"ratelimit_llm": "2 per minute"}])
def test_model_calls_are_rate_limited_per_key(api, client, owner, workspace, mock_provider):
    first, second = create_key(api, owner, workspace), create_key(api, owner, workspace)
    for _ in range(2):
        assert completion(client, bearer(first["key"])).status_code == 200
    limited = completion(client, bearer(first["key"]))
    assert_openai_error(limited, 429, "rate_limited")
    assert int(limited.headers["Retry-After"]) >= 1
    assert completion(client, bearer(second["key"])).status_code == 200
