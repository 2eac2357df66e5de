"""`/v1/embeddings` and the legacy `/v1/completions` through the official `openai` SDK (on the app
through httpx's WSGI transport), with the mock provider behind: vectors as the provider made
them (base64, as the SDK asks by default, or floats), usage and budgets as for chat, a model
that does not embed refused naming `model`; legacy completions answered by a chat model."""
from __future__ import annotations

import httpx
import openai
import pytest
from bson import ObjectId

from tests.support.fixtures import MOCK_DEFAULT_MODEL
from tests.support.gateway import create_key
from tests.support.mock_provider import PRIMARY, embedding

EMBED_MODEL = "openai/mock-embed"


@pytest.fixture
def settings_overrides(tmp_path, mock_provider_server) -> dict:
    catalogue = mock_provider_server.write_catalogue(
        tmp_path / "models.yaml", timeout=5.0,
        extra_models=[mock_provider_server.embedding_entry("mock-embed")])
    return {"models_config": str(catalogue)}


@pytest.fixture
def owner(api):
    return api.register()


@pytest.fixture
def key(api, owner):
    return create_key(api, owner, api.personal_workspace(owner))


def sdk_for(app, secret: str) -> openai.OpenAI:
    http = httpx.Client(transport=httpx.WSGITransport(app=app), base_url="http://testserver")
    return openai.OpenAI(base_url="http://testserver/v1", api_key=secret, max_retries=0,
                         http_client=http)


@pytest.fixture
def sdk(app, key):
    client = sdk_for(app, key["key"])
    yield client
    client.close()


def test_embeddings_come_back_as_the_provider_made_them(sdk, mock_provider):
    texts = ["the cat sat", "on the mat"]
    result = sdk.embeddings.create(model=EMBED_MODEL, input=texts)  # the SDK asks for base64
    assert mock_provider.embedding_requests[-1]["input"] == texts
    assert [row.index for row in result.data] == [0, 1]
    for row, text in zip(result.data, texts, strict=True):
        assert row.embedding == pytest.approx(embedding(text), abs=1e-6)
    assert result.model == EMBED_MODEL and result.object == "list"
    assert result.usage.prompt_tokens == 6 == result.usage.total_tokens

    floats = sdk.embeddings.create(model=EMBED_MODEL, input="one text", encoding_format="float",
                                   dimensions=4)  # LiteLLM drops it for a model not taking it
    assert floats.data[0].embedding == embedding("one text")
    assert "encoding_format" not in mock_provider.embedding_requests[-1] or \
        mock_provider.embedding_requests[-1]["encoding_format"] != "base64"


def test_embedding_models_are_listed(sdk, mock_provider):
    assert EMBED_MODEL in [model.id for model in sdk.models.list()]
    assert sdk.models.retrieve(EMBED_MODEL).id == EMBED_MODEL


def test_embeddings_leave_a_usage_record_and_respect_budgets(app, api, owner, sdk, key,
                                                             mock_provider):
    sdk.embeddings.create(model=EMBED_MODEL, input="count me")
    container = app.extensions["synapscale"]
    container.usage.flush()
    records = list(container.db.usage.find({"api_key_id": ObjectId(key["id"])}))
    assert [(r["source"], r["model"], r["prompt_tokens"], r["completion_tokens"])
            for r in records] == [("openai_embeddings", EMBED_MODEL, 2, 0)]
    assert records[0]["cost_usd"] == pytest.approx(2 * 0.000001)

    capped = sdk_for(app, create_key(api, owner, api.personal_workspace(owner),
                                     monthly_budget_usd=0)["key"])
    calls = len(mock_provider.embedding_requests)
    with pytest.raises(openai.APIStatusError) as refused:
        capped.embeddings.create(model=EMBED_MODEL, input="no budget")
    assert (refused.value.status_code, refused.value.code) == (402, "budget_exceeded")
    assert len(mock_provider.embedding_requests) == calls


def test_a_model_that_does_not_embed_is_refused_naming_model(sdk, mock_provider):
    with pytest.raises(openai.BadRequestError) as refused:
        sdk.embeddings.create(model=MOCK_DEFAULT_MODEL, input="hi")
    assert (refused.value.param, refused.value.code) == ("model", "unsupported_model")
    with pytest.raises(openai.NotFoundError) as missing:
        sdk.embeddings.create(model="nope/none", input="hi")
    assert missing.value.code == "model_not_found"
    with pytest.raises(openai.BadRequestError) as chat_with_embedder:
        sdk.chat.completions.create(model=EMBED_MODEL, messages=[{"role": "user", "content": "x"}])
    assert chat_with_embedder.value.param == "model"
    assert mock_provider.embedding_requests == [] and mock_provider.requests == []


@pytest.mark.parametrize("extra, param", [({"frobnicate": 1}, "frobnicate"),
                                          ({"api_base": "http://169.254.169.254"}, "api_base")])
def test_an_unknown_embeddings_parameter_is_400_naming_itself(sdk, mock_provider, extra, param):
    with pytest.raises(openai.BadRequestError) as refused:
        sdk.embeddings.create(model=EMBED_MODEL, input="hi", extra_body=extra)
    assert refused.value.param == param
    assert mock_provider.embedding_requests == []


def test_token_arrays_and_empty_inputs_are_refused_naming_input(sdk, mock_provider):
    for bad in ([[1, 2, 3]], [], [""]):
        with pytest.raises(openai.UnprocessableEntityError) as refused:
            sdk.embeddings.create(model=EMBED_MODEL, input=bad)
        assert refused.value.param == "input"


# --- legacy completions --------------------------------------------------------------------


def test_a_legacy_completion_is_answered_by_a_chat_model(sdk, mock_provider):
    completion = sdk.completions.create(model=MOCK_DEFAULT_MODEL, prompt="Say this is a test")
    assert completion.object == "text_completion" and completion.id.startswith("cmpl-")
    assert completion.choices[0].text == "Echo: Say this is a test"
    assert completion.choices[0].finish_reason == "stop" and completion.usage.total_tokens > 0
    sent = mock_provider.calls(PRIMARY)[-1]
    assert sent["messages"] == [{"role": "user", "content": "Say this is a test"}]
    assert sent["max_tokens"] == 16  # OpenAI's legacy default


def test_a_streamed_legacy_completion_sends_text_chunks(sdk, mock_provider):
    chunks = list(sdk.completions.create(model=MOCK_DEFAULT_MODEL, prompt="stream it",
                                         max_tokens=40, stream=True,
                                         stream_options={"include_usage": True}))
    assert "".join(c.choices[0].text for c in chunks if c.choices) == "Echo: stream it"
    assert len({c.id for c in chunks}) == 1
    assert chunks[-1].usage is not None and chunks[-1].usage.completion_tokens == 3
    assert mock_provider.calls(PRIMARY)[-1]["max_tokens"] == 40


@pytest.mark.parametrize("extra, param", [({"suffix": "end"}, "suffix"), ({"echo": True}, "echo"),
                                          ({"best_of": 3}, "best_of"), ({"logprobs": 2}, "logprobs"),
                                          ({"n": 2}, "n"), ({"frobnicate": 1}, "frobnicate")])
def test_what_a_chat_model_cannot_honour_is_refused_naming_itself(sdk, mock_provider, extra,
                                                                   param):
    with pytest.raises(openai.BadRequestError) as refused:
        sdk.completions.create(model=MOCK_DEFAULT_MODEL, prompt="hi", extra_body=extra)
    assert refused.value.param == param
    assert mock_provider.requests == []


def test_a_streamed_legacy_completion_on_a_users_token_ends_with_the_session(api, owner,
                                                                            mock_provider):
    """As /v1/chat/completions: a user's stream stops at logout (`token_revoked`), and the model
    call is closed, not left running."""
    mock_provider.behave(None, reply=" ".join(f"w{n}" for n in range(60)), token_delay=0.2)
    response = api.request("post", "/v1/completions", owner, buffered=False, json={
        "model": MOCK_DEFAULT_MODEL, "prompt": "a long answer", "max_tokens": 100,
        "stream": True})
    assert response.status_code == 200
    frames = (line for line in response.response if line.strip())
    assert b'"text"' in next(frames)  # the first chunk is out
    assert api.request("post", "/api/v1/auth/logout", owner).status_code == 204
    rest = b"".join(frames)
    response.close()
    assert b'"token_revoked"' in rest and b"[DONE]" not in rest
