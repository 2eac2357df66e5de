"""Agents through the HTTP API: CRUD per workspace, roles, validation of tools and models."""
from __future__ import annotations

import pytest

from tests.support.agents import NO_TOOLS_MODEL, create_agent, http_tool, workflow_tool
from tests.support.identity import add_member
from tests.support.workflows import create_workflow, greeting_workflow


@pytest.fixture
def owner(api):
    return api.register()


@pytest.fixture
def workflow(api, owner):
    return create_workflow(api, owner, greeting_workflow())


def test_an_agent_is_created_read_listed_changed_and_deleted(api, owner, workflow):
    agent = create_agent(api, owner, tools=[workflow_tool(workflow["id"])])
    assert agent["version"] == 1 and agent["max_tool_rounds"] == 8
    assert agent["workspace_id"] == api.personal_workspace(owner)
    assert agent["tools"][0]["workflow_id"] == workflow["id"]
    path = f"/api/v1/agents/{agent['id']}"
    assert api.request("GET", path, owner).get_json() == agent
    page = api.request("GET", "/api/v1/agents", owner).get_json()
    assert [item["id"] for item in page["items"]] == [agent["id"]]
    patched = api.request("PATCH", path, owner, json={"name": "Renamed", "max_tool_rounds": 2})
    assert patched.status_code == 200
    assert (patched.get_json()["version"], patched.get_json()["name"]) == (2, "Renamed")
    assert api.request("DELETE", path, owner).status_code == 204
    assert api.request("GET", path, owner).status_code == 404
    assert api.request("GET", "/api/v1/agents", owner).get_json()["total"] == 0


def test_members_read_and_only_the_creator_or_an_admin_change(api, owner):
    workspace = api.request("POST", "/api/v1/workspaces", owner,
                            json={"name": "Team"}).get_json()["id"]
    member, other = api.register(), api.register()
    add_member(api, owner, workspace, member, "member")
    add_member(api, owner, workspace, other, "member")
    agent = create_agent(api, member, workspace_id=workspace)
    path = f"/api/v1/agents/{agent['id']}"
    assert api.request("GET", path, other).status_code == 200
    assert api.request("PATCH", path, other, json={"name": "Mine"}).status_code == 403
    assert api.request("DELETE", path, other).status_code == 403
    assert api.request("PATCH", path, owner, json={"name": "Admin's"}).status_code == 200
    assert api.request("PATCH", path, member, json={"name": "Back"}).status_code == 200


def test_another_tenants_agent_is_not_found(api, owner):
    agent = create_agent(api, owner)
    stranger = api.register()
    path = f"/api/v1/agents/{agent['id']}"
    for method in ("GET", "PATCH", "DELETE"):
        response = api.request(method, path, stranger, json={} if method == "PATCH" else None)
        assert response.status_code == 404, method
    assert api.request("POST", f"{path}/tools/test", stranger,
                       json={"tool": "x"}).status_code == 404


def test_a_model_that_cannot_call_functions_cannot_have_tools(api, owner, workflow):
    response = api.request("POST", "/api/v1/agents", owner, json={
        "name": "No tools", "model": NO_TOOLS_MODEL, "tools": [workflow_tool(workflow["id"])]})
    assert response.status_code == 422
    assert "tools" in response.get_json()["error"]["details"]
    assert create_agent(api, owner, model=NO_TOOLS_MODEL)["tools"] == []


def test_bad_tools_are_refused_with_details_per_tool(api, owner):
    response = api.request("POST", "/api/v1/agents", owner, json={
        "name": "Bad", "model": "openai/mock-primary", "tools": [
            {"type": "workflow", "name": "w", "workflow_id": "0" * 24},
            {"type": "http", "name": "h", "url": "http://169.254.169.254/latest"},
            {"type": "nope", "name": "n"},
            {"type": "http", "name": "bad name!", "url": "https://example.com", "extra": 1}]})
    assert response.status_code == 422
    details = response.get_json()["error"]["details"]["tools"]
    assert set(details) == {"0", "1", "2", "3"}
    assert api.request("GET", "/api/v1/agents", owner).get_json()["total"] == 0


def test_http_tool_headers_are_stored_encrypted_and_shown_masked(api, owner, db):
    agent = create_agent(api, owner, tools=[http_tool("https://api.example.com/search",
                                                      headers={"X-Api-Key": "s3cret"})])
    assert agent["tools"][0]["headers"] == {"X-Api-Key": "********"}
    stored = db.agents.find_one({})
    assert "s3cret" not in stored["tools_json"]
    path = f"/api/v1/agents/{agent['id']}"
    again = api.request("PATCH", path, owner, json={"tools": agent["tools"]}).get_json()
    assert db.agents.find_one({})["tools_json"] == stored["tools_json"] or \
        again["tools"][0]["headers"] == {"X-Api-Key": "********"}


def test_unknown_model_and_foreign_files_are_refused(api, owner):
    assert api.request("POST", "/api/v1/agents", owner, json={
        "name": "x", "model": "openai/nothing"}).status_code == 422
    response = api.request("POST", "/api/v1/agents", owner, json={
        "name": "x", "model": "openai/mock-primary", "file_ids": ["0" * 24]})
    assert response.status_code == 422 and "file_ids" in response.get_json()["error"]["details"]


def test_a_viewer_cannot_create_an_agent(api, owner):
    workspace = api.request("POST", "/api/v1/workspaces", owner,
                            json={"name": "Team"}).get_json()["id"]
    viewer = api.register()
    add_member(api, owner, workspace, viewer, "viewer")
    response = api.request("POST", f"/api/v1/agents?workspace_id={workspace}", viewer,
                           json={"name": "x", "model": "openai/mock-primary"})
    assert response.status_code == 403


def test_an_admin_tests_a_tool_as_the_agent_would_run_it(api, owner, workflow):
    workspace = api.request("POST", "/api/v1/workspaces", owner,
                            json={"name": "Team"}).get_json()["id"]
    team_workflow = create_workflow(api, owner, greeting_workflow(), workspace_id=workspace)
    member = api.register()
    add_member(api, owner, workspace, member, "member")
    agent = create_agent(api, owner, workspace_id=workspace,
                         tools=[workflow_tool(team_workflow["id"])])
    path = f"/api/v1/agents/{agent['id']}/tools/test"
    response = api.request("POST", path, owner, json={"tool": "greet",
                                                      "arguments": {"name": "Lin"}})
    assert response.status_code == 200, response.get_json()
    assert response.get_json() == {"tool": "greet", "content": '{"greeting": "Hello Lin!"}',
                                   "error": None}
    assert api.request("POST", path, member, json={"tool": "greet"}).status_code == 403
    assert api.request("POST", path, owner, json={"tool": "nope"}).status_code == 422
    failed = api.request("POST", path, owner, json={"tool": "greet", "arguments": {}}).get_json()
    assert failed["error"] and failed["content"].startswith("Error:")


def test_a_workflow_of_another_workspace_cannot_be_a_tool(api, owner, workflow):
    stranger = api.register()
    response = api.request("POST", "/api/v1/agents", stranger, json={
        "name": "x", "model": "openai/mock-primary", "tools": [workflow_tool(workflow["id"])]})
    assert response.status_code == 422
