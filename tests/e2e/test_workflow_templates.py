"""The template marketplace through the HTTP API."""
from __future__ import annotations

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
    assert config["call"]["headers"] == {"Accept": "application/json"}
    assert "api_key" not in config["call"]["url"] and workspace not in config["call"]["url"]
    assert "page=2" in config["call"]["url"]
    assert config["call"]["body"] == {"password": "", "query": "cats", "token": ""}
    assert config["doc"]["file_id"] == ""
    assert "sk-" not in config["ask"]["prompt"] and "{{ call.output.body }}" in config["ask"]["prompt"]
    assert template["edges"] == [{"source": "call", "target": "ask", "condition": None}]


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
