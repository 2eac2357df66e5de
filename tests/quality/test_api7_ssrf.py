"""OWASP API7:2023 Server Side Request Forgery.

Every field that makes the server call a URL — a webhook's `url`, an `http_request` node's
`url` (literal or templated from the run's inputs), a workspace provider's `api_base` — refuses
loopback, private, link-local (cloud metadata) and unspecified addresses, written as IPv4,
IPv6, IPv4-mapped IPv6, a decimal integer, or a host name that resolves to loopback.
"""
from __future__ import annotations

import pytest

from tests.support.api import ApiClient
from tests.support.identity import shared_app
from tests.support.workflows import create_workflow, edge, node

app = shared_app()  # no allow-list: the production address rules
FORBIDDEN = {
    "loopback": "http://127.0.0.1/",
    "loopback with a port": "http://127.0.0.1:27017/",
    "private 10/8": "http://10.0.0.1/",
    "private 192.168/16": "http://192.168.1.1/admin",
    "cloud metadata": "http://169.254.169.254/latest/meta-data/",
    "IPv6 loopback": "http://[::1]/",
    "IPv4-mapped IPv6 loopback": "http://[::ffff:127.0.0.1]/",
    "unspecified": "http://0.0.0.0/",
    "decimal loopback": "http://2130706433/",
    "a name resolving to loopback": "http://localhost/",
}


REFUSALS = ("allow", "private", "refus", "only absolute http")


@pytest.fixture(scope="module")
def api(app):
    return ApiClient(app.test_client())


@pytest.fixture(scope="module")
def owner(api):
    session = api.register()
    return session, api.personal_workspace(session)


@pytest.mark.parametrize("target", list(FORBIDDEN))
def test_a_webhook_cannot_point_inside(api, owner, target):
    session, workspace = owner
    response = api.request("POST", f"/api/v1/workspaces/{workspace}/webhooks", session,
                           json={"url": FORBIDDEN[target], "events": ["talk.created"]})
    assert response.status_code == 422, response.get_json()
    assert "url" in response.get_json()["error"]["details"]


@pytest.mark.parametrize("target", list(FORBIDDEN))
def test_a_provider_api_base_cannot_point_inside(api, owner, target):
    session, workspace = owner
    response = api.request("PUT", f"/api/v1/workspaces/{workspace}/providers/openai", session,
                           json={"api_key": "sk-test-0123456789", "api_base": FORBIDDEN[target]})
    assert response.status_code == 422, response.get_json()
    assert "api_base" in response.get_json()["error"]["details"]


def http_workflow(url: str) -> dict:
    return {"name": "fetch", "nodes": [
        node("start", "input", fields=[{"name": "url", "type": "string", "required": False}]),
        node("fetch", "http_request", method="GET", url=url),
        node("done", "output")],
        "edges": [edge("start", "fetch"), edge("fetch", "done")]}


def assert_refused(api, session, workflow_body: dict, inputs: dict) -> None:
    created = api.request("POST", "/api/v1/workflows", session, json=workflow_body)
    if created.status_code == 422:  # refused when saved: fine too
        return
    assert created.status_code == 201, created.get_json()
    run = api.request("POST", f"/api/v1/workflows/{created.get_json()['id']}/execute", session,
                      json={"inputs": inputs, "wait": True}).get_json()
    assert run["status"] == "failed", run
    fetch = next(n for n in run["node_runs"] if n["node_id"] == "fetch")
    assert fetch["status"] == "failed" and fetch["output"] is None
    assert any(word in (fetch["error"] or "").lower() for word in REFUSALS), fetch["error"]


@pytest.mark.parametrize("target", list(FORBIDDEN))
def test_an_http_request_node_cannot_call_inside(api, owner, target):
    session, _ = owner
    assert_refused(api, session, http_workflow(FORBIDDEN[target]), {})


@pytest.mark.parametrize("target", ["cloud metadata", "a name resolving to loopback"])
def test_an_http_request_node_cannot_be_steered_inside_by_its_inputs(api, owner, target):
    session, _ = owner
    workflow = create_workflow(api, session, http_workflow("{{ url }}"))
    run = api.request("POST", f"/api/v1/workflows/{workflow['id']}/execute", session,
                      json={"inputs": {"url": FORBIDDEN[target]}, "wait": True}).get_json()
    assert run["status"] == "failed"
    fetch = next(n for n in run["node_runs"] if n["node_id"] == "fetch")
    assert fetch["output"] is None and fetch["error"]


@pytest.mark.parametrize("scheme_url", ["file:///etc/passwd", "gopher://127.0.0.1:6379/_INFO",
                                        "ftp://10.0.0.1/"])
def test_only_http_and_https_are_called(api, owner, scheme_url):
    session, workspace = owner
    webhook = api.request("POST", f"/api/v1/workspaces/{workspace}/webhooks", session,
                          json={"url": scheme_url, "events": ["talk.created"]})
    assert webhook.status_code == 422
    provider = api.request("PUT", f"/api/v1/workspaces/{workspace}/providers/openai", session,
                           json={"api_key": "sk-test-0123456789", "api_base": scheme_url})
    assert provider.status_code == 422
    assert_refused(api, session, http_workflow(scheme_url), {})
