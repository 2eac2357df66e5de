"""Helpers for the OpenAI-compatible gateway tests: API keys, members, OpenAI-shaped calls."""
from __future__ import annotations

import json

from tests.support.api import ApiClient, Session
from tests.support.fixtures import MOCK_DEFAULT_MODEL
from tests.support.identity import add_member, bearer

__all__ = ["ask", "assert_openai_error", "bearer", "completion", "create_key", "new_member",
           "sse_data"]


def create_key(api: ApiClient, session: Session, workspace_id: str, **body) -> dict:
    response = api.request("post", f"/api/v1/workspaces/{workspace_id}/api-keys", session,
                           json={"name": "script", **body})
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def new_member(api: ApiClient, owner: Session, workspace_id: str, role: str) -> Session:
    """A newly registered user, added to the workspace with `role`."""
    newcomer = api.register()
    add_member(api, owner, workspace_id, newcomer, role)
    return newcomer


def ask(text: str = "hello there", **extra) -> dict:
    return {"model": MOCK_DEFAULT_MODEL, "messages": [{"role": "user", "content": text}], **extra}


def completion(client, headers: dict, **extra):
    return client.post("/v1/chat/completions", json=ask(**extra), headers=headers)


def sse_data(response) -> list:
    """The `data:` payloads of an SSE body: JSON objects, and the string "[DONE]"."""
    payloads = []
    for line in response.get_data(as_text=True).splitlines():
        if line.startswith("data: "):
            raw = line.removeprefix("data: ")
            payloads.append(raw if raw == "[DONE]" else json.loads(raw))
    return payloads


def assert_openai_error(response, status: int, code: str | None = None) -> dict:
    assert response.status_code == status, response.get_data(as_text=True)
    error = response.get_json()["error"]
    assert {"message", "type", "code"} <= set(error) and "details" not in error
    if code is not None:
        assert error["code"] == code
    return error
