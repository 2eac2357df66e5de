"""/v1 deeper, through the official `openai` SDK (on the app through httpx's WSGI transport):
a model retrieved, an unknown model 404 `model_not_found`, an unknown parameter 400 naming
itself, LiteLLM's parameters passed on; the API-key scheme in /openapi.json, docs with local
assets only, a favicon."""
from __future__ import annotations

import re

import httpx
import openai
import pytest

from tests.support.fixtures import MOCK_DEFAULT_MODEL
from tests.support.gateway import assert_openai_error, bearer, create_key
from tests.support.mock_provider import PRIMARY

MESSAGES = [{"role": "user", "content": "hi"}]
EXTERNAL_URL = re.compile(r"""(?:src|href)\s*=\s*["']?https?://|url\(\s*["']?https?://""")


@pytest.fixture
def sdk(app, api):
    owner = api.register()
    key = create_key(api, owner, api.personal_workspace(owner))
    http = httpx.Client(transport=httpx.WSGITransport(app=app), base_url="http://testserver")
    yield openai.OpenAI(base_url="http://testserver/v1", api_key=key["key"], max_retries=0,
                        http_client=http)
    http.close()


def test_a_model_is_retrieved_by_its_id_with_a_slash(sdk):
    model = sdk.models.retrieve(MOCK_DEFAULT_MODEL)
    assert (model.id, model.object) == (MOCK_DEFAULT_MODEL, "model")
    assert model.owned_by and model.created > 0


def test_an_unknown_model_is_404_model_not_found(sdk, mock_provider):
    with pytest.raises(openai.NotFoundError) as retrieved:
        sdk.models.retrieve("nope/none")
    assert retrieved.value.code == "model_not_found"
    with pytest.raises(openai.NotFoundError) as completed:
        sdk.chat.completions.create(model="nope/none", messages=MESSAGES)
    assert completed.value.code == "model_not_found"
    with pytest.raises(openai.NotFoundError) as streamed:
        sdk.chat.completions.create(model="nope/none", messages=MESSAGES, stream=True)
    assert streamed.value.code == "model_not_found"
    assert mock_provider.requests == []


@pytest.mark.parametrize("field", ["frobnicate", "api_base", "api_key", "base_url",
                                   "extra_headers", "custom_llm_provider"])
def test_an_unknown_or_unsafe_parameter_is_400_naming_itself(sdk, mock_provider, field):
    with pytest.raises(openai.BadRequestError) as refused:
        sdk.chat.completions.create(model=MOCK_DEFAULT_MODEL, messages=MESSAGES,
                                    extra_body={field: "http://169.254.169.254"})
    assert refused.value.param == field
    assert refused.value.body["type"] == "invalid_request_error"
    assert mock_provider.requests == []


def test_schema_refusals_name_their_field(client, api, mock_provider):
    owner = api.register()
    headers = bearer(create_key(api, owner, api.personal_workspace(owner))["key"])
    for body, param in (({"messages": MESSAGES, "temperature": 5}, "temperature"),
                        ({"model": MOCK_DEFAULT_MODEL}, "messages"),
                        ({"messages": MESSAGES, "n": 2}, "n"),
                        ({"messages": MESSAGES, "stream_options": {"include_usage": "x"}},
                         "stream_options.include_usage")):
        response = client.post("/v1/chat/completions", json=body, headers=headers)
        assert response.status_code in (400, 422)
        assert assert_openai_error(response, response.status_code)["param"] == param


def test_parameters_litellm_knows_are_passed_on(sdk, mock_provider):
    reply = sdk.chat.completions.create(
        model=MOCK_DEFAULT_MODEL, messages=MESSAGES, service_tier="auto",
        max_completion_tokens=9, prompt_cache_key="k1", safety_identifier="user-1",
        extra_body={"top_k": 5})
    assert reply.choices[0].message.content
    sent = mock_provider.calls(PRIMARY)[-1]
    assert sent["service_tier"] == "auto" and sent["prompt_cache_key"] == "k1"
    assert sent["safety_identifier"] == "user-1" and sent["top_k"] == 5
    assert 9 in (sent.get("max_tokens"), sent.get("max_completion_tokens"))
    for forbidden in ("api_base", "api_key", "base_url"):
        assert forbidden not in sent


def test_openapi_declares_the_api_key_scheme_next_to_jwt(client):
    spec = client.get("/openapi.json").get_json()
    schemes = spec["components"]["securitySchemes"]
    assert schemes["bearerAuth"]["bearerFormat"] == "JWT"
    assert schemes["apiKeyAuth"] == {**schemes["apiKeyAuth"], "type": "http",
                                     "scheme": "bearer", "bearerFormat": "sk-syn-..."}
    for path, item in spec["paths"].items():
        if path.startswith("/v1/"):
            for method, operation in item.items():
                if method not in ("get", "post"):
                    continue
                names = {name for requirement in operation["security"] for name in requirement}
                assert names == {"apiKeyAuth", "bearerAuth"}, path


def test_docs_pages_load_no_asset_from_outside(client):
    for page in ("/docs", "/redoc"):
        html = client.get(page).get_data(as_text=True)
        assert not EXTERNAL_URL.search(html), page
        for asset in re.findall(r"""(?:src|href)=["']?(/[^"' >]+)""", html):
            assert client.get(asset.split("?")[0]).status_code == 200, asset
    bundle = client.get("/docs-assets/redoc/redoc.standalone.js").get_data(as_text=True)
    assert "cdn.redoc.ly" not in bundle


def test_a_favicon_is_served_without_rate_limits(client):
    response = client.get("/favicon.ico")
    assert response.status_code == 200 and response.mimetype == "image/x-icon"
    assert response.data[:4] == b"\x00\x00\x01\x00"
