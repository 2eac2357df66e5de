"""Helpers for agent tests: creating agents and reading a talk's stored tool loop."""
from __future__ import annotations

from tests.support.mock_provider import FALLBACK, PRIMARY

TOOL_MODEL = f"openai/{PRIMARY}"  # the mock catalogue says it calls functions
NO_TOOLS_MODEL = f"openai/{FALLBACK}"  # ... and this one does not


def create_agent(api, session, workspace_id: str | None = None, **fields) -> dict:
    body = {"name": "Helper", "model": TOOL_MODEL, "instructions": "Be brief.", **fields}
    path = "/api/v1/agents" + (f"?workspace_id={workspace_id}" if workspace_id else "")
    response = api.request("POST", path, session, json=body)
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def workflow_tool(workflow_id: str, name: str = "greet") -> dict:
    return {"type": "workflow", "name": name, "workflow_id": workflow_id}


def http_tool(url: str, name: str = "lookup", method: str = "GET", **extra) -> dict:
    return {"type": "http", "name": name, "method": method, "url": url,
            "parameters": {"type": "object", "properties": {"q": {"type": "string"}}}, **extra}
