"""The template marketplace through the HTTP API."""
from __future__ import annotations

import json
import threading

import pytest

from tests.support.workflows import create_workflow, edge, execute, greeting_workflow, node


@pytest.fixture
def author(api):
    return api.register(name="Ada Author")


def publish(api, session, workflow_id, title="Greeter", tags=("hello",), description="Says hi"):
    response = api.request("POST", f"/api/v1/workflows/{workflow_id}/publish", session,
                           json={"title": title, "description": description, "tags": list(tags)})
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def rate(api, session, template_id, stars, comment=None):
    return api.request("POST", f"/api/v1/templates/{template_id}/ratings", session,
                       json={"stars": stars, "comment": comment})


def test_a_published_template_keeps_its_logic_but_no_secrets_or_workspace_ids(api, author):
    workspace = api.personal_workspace(author)
    secret_flow = {"name": "Secret", "nodes": [
        node("call", "http_request", method="POST",
             url=f"https://api.example.com/v1/items?api_key=sk-live-abcdefghijklmnop&page=2"
                 f"&workspace={workspace}",
             headers={"Authorization": "Bearer abc.def", "X-Api-Key": "k-123",
                      "Accept": "application/json"},
             body={"password": "hunter2", "query": "cats", "token": "t"}),
        node("doc", "file_text", file_id="0123456789abcdef01234567"),
        node("ask", "llm", model="openai/gpt-4o-mini",
             prompt="Use key sk-abcdefghijklmnopqrstu for {{ call.output.body }}"),
    ], "edges": [edge("call", "ask")]}
    workflow = create_workflow(api, author, secret_flow)
    template = publish(api, author, workflow["id"])

    assert template["author"] == {"id": author.id, "name": "Ada Author"}
    config = {n["id"]: n["config"] for n in template["nodes"]}
    assert config["call"]["headers"] == {
        "Authorization": "{{ secret.header_authorization }}",
        "X-Api-Key": "{{ secret.header_x_api_key }}", "Accept": "application/json"}
    assert "sk-live" not in config["call"]["url"] and workspace not in config["call"]["url"]
    assert "api_key={{ secret.query_api_key }}" in config["call"]["url"]
    assert "page=2" in config["call"]["url"]
    assert config["call"]["body"] == {"password": "{{ secret.body_password }}", "query": "cats",
                                      "token": "{{ secret.body_token }}"}
    assert config["doc"]["file_id"] == ""
    assert "sk-" not in config["ask"]["prompt"] and "{{ call.output.body }}" in config["ask"]["prompt"]
    assert "{{ secret.ask_prompt }}" in config["ask"]["prompt"]
    assert template["edges"] == [{"source": "call", "target": "ask", "condition": None}]


GITHUB_TOKEN = "ghp_" + "aB3dE5fG7hJ9kL1mN3pQ5rS7tU9vW1xY3zA5"
SLACK_WEBHOOK = "https://hooks.slack.com/services/T0123ABCD/B0456EFGH/" + "abcDEF123ghiJKL456mnoPQR7"


def test_credentials_the_old_rules_missed_become_named_placeholders(api, author):
    """Issue 16 #8: a subscription-key header, a GitHub token under a custom header name, a
    string body holding a password, a Slack webhook URL were published as written."""
    flow = {"name": "Leaky", "nodes": [
        node("azure", "http_request", method="POST", url="https://westeurope.api.example.com/ocr",
             headers={"Ocp-Apim-Subscription-Key": "0f1e2d3c4b5a69788796a5b4c3d2e1f0",
                      "X-Custom-Auth-Thing": GITHUB_TOKEN, "X-Trace": GITHUB_TOKEN,
                      "Content-Type": "application/json"},
             body='{"password": "hunter2", "user": "ada"}'),
        node("form", "http_request", method="POST", url="https://login.example.com/token",
             body="grant_type=password&password=hunter2&username=ada"),
        node("notify", "http_request", method="POST", url=SLACK_WEBHOOK, body={"text": "done"}),
        node("note", "template", template=f"Deploy with {GITHUB_TOKEN} then ping {SLACK_WEBHOOK}"),
    ], "edges": [edge("azure", "notify")]}
    template = publish(api, author, create_workflow(api, author, flow)["id"])
    published = json.dumps(template)
    for secret in (GITHUB_TOKEN, "hunter2", "0f1e2d3c4b5a69788796a5b4c3d2e1f0", SLACK_WEBHOOK,
                   "hooks.slack.com"):
        assert secret not in published, secret

    config = {n["id"]: n["config"] for n in template["nodes"]}
    headers = config["azure"]["headers"]
    assert headers["Ocp-Apim-Subscription-Key"] == "{{ secret.header_ocp_apim_subscription_key }}"
    # the same token found twice keeps one name; a harmless header stays as it was
    assert headers["X-Custom-Auth-Thing"] == headers["X-Trace"] == \
        "{{ secret.header_x_custom_auth_thing }}"
    assert headers["Content-Type"] == "application/json"
    assert json.loads(config["azure"]["body"]) == {"password": "{{ secret.body_password }}",
                                                   "user": "ada"}
    assert config["form"]["body"].startswith("grant_type=password&password={{ secret.body_password")
    assert config["form"]["body"].endswith("&username=ada")
    assert config["notify"]["url"] == "{{ secret.url }}"
    assert config["note"]["template"] == (
        "Deploy with {{ secret.header_x_custom_auth_thing }} then ping {{ secret.url }}")


def test_an_installed_template_runs_only_once_its_placeholders_are_filled_in(api, author, app):
    flow = {"name": "Keyed", "nodes": [
        node("start", "input", fields=[{"name": "name", "type": "string"}]),
        node("call", "http_request", method="GET", url="http://127.0.0.1:9/never",
             headers={"X-Api-Key": "k-live-123456"}),
        node("done", "output"),
    ], "edges": [edge("start", "call"), edge("call", "done")]}
    template = publish(api, author, create_workflow(api, author, flow)["id"])
    user = api.register()
    installed = api.request("POST", f"/api/v1/templates/{template['id']}/install", user, json={})
    assert installed.status_code == 201, installed.get_json()
    workflow = installed.get_json()
    refused = execute(api, user, workflow["id"], {"name": "Cy"})
    assert refused.status_code == 422
    assert refused.get_json()["error"]["details"]["secrets"] == [
        "Replace {{ secret.header_x_api_key }} with your value."]

    nodes = workflow["nodes"]
    call = next(n for n in nodes if n["id"] == "call")
    call["config"]["headers"]["X-Api-Key"] = "my-own-key"
    saved = api.request("PUT", f"/api/v1/workflows/{workflow['id']}", user,
                        json={"name": workflow["name"], "nodes": nodes, "edges": workflow["edges"]})
    assert saved.status_code == 200, saved.get_json()
    assert execute(api, user, workflow["id"], {"name": "Cy"}).status_code in (200, 202)


def test_installing_a_template_creates_a_workflow_that_runs_and_counts_the_install(api, author):
    template = publish(api, author, create_workflow(api, author, greeting_workflow())["id"])
    user = api.register()
    response = api.request("POST", f"/api/v1/templates/{template['id']}/install", user, json={})
    assert response.status_code == 201
    installed = response.get_json()
    assert installed["workspace_id"] == api.personal_workspace(user)
    assert installed["version"] == 1 and installed["created_by"] == user.id
    assert execute(api, user, installed["id"], {"name": "Cy"}).get_json()["outputs"] == {
        "greeting": "Hello Cy!"}
    fetched = api.request("GET", f"/api/v1/templates/{template['id']}", user).get_json()
    assert fetched["installs"] == 1


def test_installing_into_a_workspace_one_does_not_belong_to_is_404(api, author):
    template = publish(api, author, create_workflow(api, author, greeting_workflow())["id"])
    stranger = api.register()
    response = api.request("POST", f"/api/v1/templates/{template['id']}/install", stranger,
                           json={"workspace_id": api.personal_workspace(author)})
    assert response.status_code == 404


def test_a_second_rating_by_the_same_user_replaces_the_first(api, author):
    template = publish(api, author, create_workflow(api, author, greeting_workflow())["id"])
    one, two = api.register(), api.register()
    assert rate(api, one, template["id"], 5).get_json()["rating"] == 5
    assert rate(api, two, template["id"], 2, "meh").get_json()["rating"] == 3.5
    again = rate(api, one, template["id"], 3).get_json()
    assert (again["rating"], again["ratings_count"]) == (2.5, 2)


def test_concurrent_ratings_keep_the_average_consistent(api, author, app):
    template = publish(api, author, create_workflow(api, author, greeting_workflow())["id"])
    raters = [api.register() for _ in range(6)]
    clients = [app.test_client() for _ in raters]
    barrier = threading.Barrier(len(raters))

    def rate_twice(client, session, first, second):
        barrier.wait()
        for stars in (first, second):
            client.post(f"/api/v1/templates/{template['id']}/ratings", headers=session.headers,
                        json={"stars": stars})

    threads = [threading.Thread(target=rate_twice, args=(c, s, 1, 4 if i % 2 else 2))
               for i, (c, s) in enumerate(zip(clients, raters, strict=True))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    final = api.request("GET", f"/api/v1/templates/{template['id']}", author).get_json()
    assert final["ratings_count"] == 6
    assert final["rating"] == 3.0  # three 4s and three 2s


def test_stars_outside_one_to_five_are_refused(api, author):
    template = publish(api, author, create_workflow(api, author, greeting_workflow())["id"])
    assert rate(api, author, template["id"], 6).status_code == 422
    assert rate(api, author, template["id"], 0).status_code == 422


def test_templates_are_searched_filtered_by_tag_and_sorted(api, author):
    flow = create_workflow(api, author, greeting_workflow())["id"]
    mail = publish(api, author, flow, "Mail triage", ("email", "ops"), "Sorts the inbox")
    news = publish(api, author, flow, "News digest", ("rss",), "Summarises feeds into email")
    chat = publish(api, author, flow, "Chat helper", ("chat",), "Answers")
    users = [api.register() for _ in range(2)]
    rate(api, users[0], news["id"], 5)
    rate(api, users[0], mail["id"], 3)
    for user in users:
        api.request("POST", f"/api/v1/templates/{chat['id']}/install", user, json={})

    def ids(query):
        body = api.request("GET", f"/api/v1/templates?{query}", author).get_json()
        return [item["id"] for item in body["items"]]

    assert ids("q=EMAIL") == [news["id"], mail["id"]]  # description or tag, any case
    assert ids("tag=ops") == [mail["id"]]
    assert ids("sort=rating")[:2] == [news["id"], mail["id"]]
    assert ids("sort=installs")[0] == chat["id"]
    assert ids("sort=recent") == [chat["id"], news["id"], mail["id"]]
    item = api.request("GET", "/api/v1/templates?sort=recent&size=1", author).get_json()
    assert item["total"] == 3 and set(item["items"][0]) == {
        "id", "title", "description", "tags", "author", "rating", "ratings_count", "installs",
        "created_at"}
