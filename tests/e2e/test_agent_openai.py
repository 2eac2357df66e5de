"""OpenAI clients reach an agent as `model: "agent/<id>"` on /v1/chat/completions: the tools run
server side and the answer comes back (whole or streamed); a key reaches its own workspace's
agents only (another is 404 `model_not_found`)."""
from __future__ import annotations

import json

import openai
import pytest

from tests.support.agents import ToolServer, create_agent, http_tool
from tests.support.streams import served


@pytest.fixture
def settings_overrides():
    return {"outbound_allowlist": ("127.0.0.1",)}


@pytest.fixture
def tool_server():
    server = ToolServer({"temperature_c": 17})
    yield server
    server.close()


@pytest.fixture
def owner(api):
    return api.register()


def api_key(api, session) -> str:
    workspace = api.personal_workspace(session)
    response = api.request("POST", f"/api/v1/workspaces/{workspace}/api-keys", session,
                           json={"name": "sdk"})
    assert response.status_code == 201, response.get_json()
    return response.get_json()["key"]


def test_the_openai_sdk_gets_an_agents_answer_after_its_tools_ran(app, api, owner,
                                                                   mock_provider, tool_server):
    agent = create_agent(api, owner, tools=[http_tool(tool_server.url)])
    key = api_key(api, owner)
    mock_provider.behave(None, call_tools=True, tool_arguments={"q": "Porto"})
    with served(app) as base:
        client = openai.OpenAI(base_url=f"{base}/v1", api_key=key, max_retries=0, timeout=30)
        completion = client.chat.completions.create(
            model=f"agent/{agent['id']}", messages=[{"role": "user", "content": "Weather?"}])
        assert completion.model == f"agent/{agent['id']}"
        assert completion.choices[0].message.tool_calls is None
        assert "temperature_c" in completion.choices[0].message.content
        assert completion.usage.prompt_tokens > 0
        assert tool_server.requests[0][1] == "/weather?q=Porto"
        first = mock_provider.requests[-2]
        assert first["messages"][0] == {"role": "system", "content": "Be brief."}

        stream = client.chat.completions.create(
            model=f"agent/{agent['id']}", stream=True,
            messages=[{"role": "user", "content": "Again?"}])
        text = "".join(chunk.choices[0].delta.content or "" for chunk in stream if chunk.choices)
        assert json.dumps({"temperature_c": 17}) in text


def test_another_workspaces_agent_is_model_not_found(app, api, owner, mock_provider):
    agent = create_agent(api, owner)
    stranger = api.register()
    key = api_key(api, stranger)
    with served(app) as base:
        client = openai.OpenAI(base_url=f"{base}/v1", api_key=key, max_retries=0, timeout=30)
        with pytest.raises(openai.NotFoundError) as raised:
            client.chat.completions.create(model=f"agent/{agent['id']}",
                                           messages=[{"role": "user", "content": "hi"}])
        assert raised.value.code == "model_not_found"
    assert mock_provider.requests == []
