"""Workflows and executions through the HTTP API."""
from __future__ import annotations

import pytest

from tests.support.identity import add_member
from tests.support.workflows import (
    create_workflow,
    edge,
    execute,
    greeting_workflow,
    input_node,
    llm_workflow,
    node,
    wait_for_status,
)


@pytest.fixture
def owner(api):
    return api.register()


@pytest.fixture
def workflow(api, owner):
    return create_workflow(api, owner, greeting_workflow())


# --- saving -------------------------------------------------------------------------------------


def test_a_member_creates_reads_and_lists_a_workflow(api, owner, workflow):
    assert workflow["version"] == 1
    assert workflow["workspace_id"] == api.personal_workspace(owner)
    assert [n["id"] for n in workflow["nodes"]] == ["start", "greet", "done"]
    fetched = api.request("GET", f"/api/v1/workflows/{workflow['id']}", owner).get_json()
    assert fetched == workflow
    page = api.request("GET", "/api/v1/workflows", owner).get_json()
    assert page["total"] == 1 and page["items"][0]["id"] == workflow["id"]


def test_every_save_bumps_the_version_and_a_stale_version_is_a_conflict(api, owner, workflow):
    path = f"/api/v1/workflows/{workflow['id']}"
    patched = api.request("PATCH", path, owner, json={"name": "Renamed", "version": 1})
    assert patched.status_code == 200 and patched.get_json()["version"] == 2
    body = {**greeting_workflow(), "description": "replaced"}
    replaced = api.request("PUT", path, owner, json=body).get_json()
    assert (replaced["version"], replaced["name"], replaced["description"]) == (
        3, "Greeting", "replaced")
    stale = api.request("PATCH", path, owner, json={"name": "Late", "version": 2})
    assert stale.status_code == 409


def test_an_invalid_workflow_is_refused_with_details_per_node(api, owner):
    body = {"name": "Broken", "nodes": [
        input_node("q"),
        node("start", "template", template="dup"),
        node("ask", "llm", prompt="{{ nowhere }}", temprature=1),
        node("loop_a", "template", template="a"), node("loop_b", "template", template="b"),
    ], "edges": [edge("start", "ghost"), edge("loop_a", "loop_b"), edge("loop_b", "loop_a")]}
    response = api.request("POST", "/api/v1/workflows", owner, json=body)
    assert response.status_code == 422
    error = response.get_json()["error"]
    assert error["code"] == "validation_error"
    details = error["details"]
    assert "Another node has this id." in details["nodes"]["start"]
    assert any("'model' is a required property" in m for m in details["nodes"]["ask"])
    assert any("'temprature' was unexpected" in m for m in details["nodes"]["ask"])
    assert details["edges"]["0"] == ["target 'ghost' is not a node of this workflow."]
    assert any("cycle" in m for m in details["graph"])


def test_a_template_nested_deeper_than_the_parser_recurses_is_a_422_not_a_500(api, owner):
    deep = "{{ " + "(" * 3000 + "1" + ")" * 3000 + " }}"
    body = {"name": "Deep", "nodes": [input_node(), node("t", "template", template=deep),
                                      node("done", "output")],
            "edges": [edge("start", "t"), edge("t", "done")]}
    response = api.request("POST", "/api/v1/workflows", owner, json=body)
    assert response.status_code == 422, response.get_json()
    assert any("nested too deeply" in m
               for m in response.get_json()["error"]["details"]["nodes"]["t"])


def test_unknown_fields_of_the_request_are_refused(api, owner):
    response = api.request("POST", "/api/v1/workflows", owner,
                           json={**greeting_workflow(), "owner": "me"})
    assert response.status_code == 422
    assert "owner" in response.get_json()["error"]["details"]


def test_the_node_type_catalogue_publishes_each_config_schema(api, owner):
    response = api.request("GET", "/api/v1/workflows/node-types", owner)
    types = {entry["type"]: entry for entry in response.get_json()}
    assert len(types) == 9
    assert types["agent"]["config_schema"]["required"] == ["agent_id", "prompt"]
    assert types["http_request"]["config_schema"]["required"] == ["method", "url"]


def test_a_deleted_workflow_vanishes_and_can_be_restored(api, owner, workflow):
    path = f"/api/v1/workflows/{workflow['id']}"
    assert api.request("DELETE", path, owner).status_code == 204
    assert api.request("GET", path, owner).status_code == 404
    assert api.request("GET", "/api/v1/workflows", owner).get_json()["total"] == 0
    deleted = api.request("GET", "/api/v1/workflows?deleted=true", owner).get_json()
    assert [w["id"] for w in deleted["items"]] == [workflow["id"]]
    assert api.request("POST", f"{path}/restore", owner).status_code == 200
    assert api.request("GET", path, owner).status_code == 200


# --- running ------------------------------------------------------------------------------------


def test_execute_with_wait_answers_with_the_finished_execution(api, owner, workflow):
    response = execute(api, owner, workflow["id"], {"name": "Ada"})
    assert response.status_code == 200
    body = response.get_json()
    assert body["status"] == "succeeded"
    assert body["outputs"] == {"greeting": "Hello Ada!"}
    assert body["workflow_version"] == 1
    assert [(r["node_id"], r["status"], r["attempts"]) for r in body["node_runs"]] == [
        ("start", "succeeded", 1), ("greet", "succeeded", 1), ("done", "succeeded", 1)]
    assert body["duration_ms"] >= 0
    assert response.headers["Location"] == f"/api/v1/executions/{body['id']}"


def test_execute_without_wait_answers_202_and_the_run_finishes_in_the_background(
        api, owner, workflow):
    response = execute(api, owner, workflow["id"], {"name": "Bo"}, wait=False)
    assert response.status_code == 202
    assert response.get_json()["status"] == "queued"
    done = wait_for_status(api, owner, response.get_json()["id"], ("succeeded", "failed"))
    assert done["outputs"] == {"greeting": "Hello Bo!"}
    page = api.request("GET", f"/api/v1/workflows/{workflow['id']}/executions", owner).get_json()
    assert [item["id"] for item in page["items"]] == [done["id"]]


def test_inputs_that_do_not_match_the_input_fields_are_refused(api, owner, workflow):
    response = execute(api, owner, workflow["id"], {"nom": "Ada"})
    assert response.status_code == 422
    assert response.get_json()["error"]["details"]["inputs"] == {
        "nom": ["Unknown input field."], "name": ["Missing data for required field."]}


def test_an_inactive_workflow_does_not_run(api, owner, workflow):
    api.request("PATCH", f"/api/v1/workflows/{workflow['id']}", owner, json={"is_active": False})
    assert execute(api, owner, workflow["id"], {"name": "Ada"}).status_code == 409


def test_an_llm_workflow_answers_through_the_gateway_and_the_mock_provider(api, owner,
                                                                          mock_provider):
    workflow = create_workflow(api, owner, llm_workflow())
    body = execute(api, owner, workflow["id"], {"question": "what is two plus two"}).get_json()
    assert body["status"] == "succeeded", body
    assert body["outputs"] == {"answer": "Echo: what is two plus two"}
    assert mock_provider.requests[-1]["messages"][-1]["content"] == "what is two plus two"


def test_an_http_node_pointed_at_the_metadata_address_fails_with_the_reason(api, owner):
    workflow = create_workflow(api, owner, {"name": "SSRF", "nodes": [
        node("fetch", "http_request", method="GET", url="http://169.254.169.254/latest/meta-data/",
             retry={"max_attempts": 3})]})
    body = execute(api, owner, workflow["id"], {}).get_json()
    assert body["status"] == "failed"
    (run,) = body["node_runs"]
    assert run["attempts"] == 1 and "link-local" in run["error"]


def test_a_running_execution_is_cancelled(api, owner, mock_provider):
    mock_provider.behave(None, hang=10)
    workflow = create_workflow(api, owner, llm_workflow())
    started = execute(api, owner, workflow["id"], {"question": "slow"}, wait=False).get_json()
    wait_for_status(api, owner, started["id"], ("running",))
    response = api.request("POST", f"/api/v1/executions/{started['id']}/cancel", owner)
    assert response.status_code == 200
    body = response.get_json()
    assert body["status"] == "cancelled"
    assert {r["node_id"]: r["status"] for r in body["node_runs"]} == {
        "start": "succeeded", "ask": "cancelled", "done": "cancelled"}


# --- who may do what ----------------------------------------------------------------------------


def test_another_tenant_gets_404_on_workflows_and_executions(api, owner, workflow):
    execution = execute(api, owner, workflow["id"], {"name": "Ada"}).get_json()
    stranger = api.register()
    wid, eid = workflow["id"], execution["id"]
    for method, path, body in [
        ("GET", f"/api/v1/workflows/{wid}", None),
        ("PATCH", f"/api/v1/workflows/{wid}", {"name": "mine"}),
        ("PUT", f"/api/v1/workflows/{wid}", greeting_workflow()),
        ("DELETE", f"/api/v1/workflows/{wid}", None),
        ("POST", f"/api/v1/workflows/{wid}/execute", {"inputs": {"name": "x"}}),
        ("GET", f"/api/v1/workflows/{wid}/executions", None),
        ("POST", f"/api/v1/workflows/{wid}/publish", {"title": "stolen"}),
        ("GET", f"/api/v1/executions/{eid}", None),
        ("POST", f"/api/v1/executions/{eid}/cancel", None),
    ]:
        response = api.request(method, path, stranger, json=body)
        assert response.status_code == 404, (method, path, response.status_code)
    workspace = api.personal_workspace(owner)
    listing = api.request("GET", f"/api/v1/workflows?workspace_id={workspace}", stranger)
    assert listing.status_code == 404


def test_a_viewer_reads_but_cannot_execute_edit_or_cancel(api, owner, workflow):
    viewer = api.register()
    add_member(api, owner, workflow["workspace_id"], viewer, "viewer")
    execution = execute(api, owner, workflow["id"], {"name": "Ada"}).get_json()
    assert api.request("GET", f"/api/v1/workflows/{workflow['id']}", viewer).status_code == 200
    assert api.request("GET", f"/api/v1/executions/{execution['id']}", viewer).status_code == 200
    assert execute(api, viewer, workflow["id"], {"name": "x"}).status_code == 403
    assert api.request("PATCH", f"/api/v1/workflows/{workflow['id']}", viewer,
                       json={"name": "x"}).status_code == 403
    assert api.request("POST", f"/api/v1/executions/{execution['id']}/cancel",
                       viewer).status_code == 403


def test_a_member_runs_a_workspace_workflow_but_only_its_creator_or_an_admin_deletes_it(
        api, owner, workflow):
    member = api.register()
    add_member(api, owner, workflow["workspace_id"], member, "member")
    assert execute(api, member, workflow["id"], {"name": "Mo"}).get_json()["status"] == "succeeded"
    assert api.request("DELETE", f"/api/v1/workflows/{workflow['id']}", member).status_code == 403
    assert api.request("DELETE", f"/api/v1/workflows/{workflow['id']}", owner).status_code == 204


def test_every_workflow_route_is_in_the_openapi_spec(client):
    paths = client.get("/openapi.json").get_json()["paths"]
    for path in ("/api/v1/workflows", "/api/v1/workflows/node-types",
                 "/api/v1/workflows/{workflow_id}", "/api/v1/workflows/{workflow_id}/execute",
                 "/api/v1/workflows/{workflow_id}/executions", "/api/v1/workflows/{workflow_id}/publish",
                 "/api/v1/executions/{execution_id}", "/api/v1/executions/{execution_id}/cancel",
                 "/api/v1/templates", "/api/v1/templates/{template_id}/install",
                 "/api/v1/templates/{template_id}/ratings", "/api/v1/ws/executions/{execution_id}"):
        assert path in paths, path
    assert "101" in paths["/api/v1/ws/executions/{execution_id}"]["get"]["responses"]
    execute_op = paths["/api/v1/workflows/{workflow_id}/execute"]["post"]
    assert {"200", "202"} <= set(execute_op["responses"])
