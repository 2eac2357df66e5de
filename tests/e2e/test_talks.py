"""Talk CRUD, soft delete and restore, archive, pin, tags, export and search over HTTP."""
from __future__ import annotations

import json

import pytest

from tests.support.fixtures import MOCK_DEFAULT_MODEL


@pytest.fixture
def alice(api):
    return api.register(name="Alice")


def create_talk(api, session, **body):
    response = api.request("post", "/api/v1/talks", session, json=body)
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def send(api, session, talk_id, content):
    response = api.request("post", f"/api/v1/talks/{talk_id}/messages", session,
                           json={"content": content})
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def test_a_new_talk_lands_in_the_personal_workspace_with_the_documented_shape(api, alice):
    talk = create_talk(api, alice, name="Plans", tags=["work", "work", " q3 "],
                       system_prompt="Be brief.", model=MOCK_DEFAULT_MODEL)
    assert talk["workspace_id"] == api.personal_workspace(alice)
    assert talk["tags"] == ["work", "q3"]
    assert {"id", "workspace_id", "name", "model", "system_prompt", "tags", "archived", "pinned",
            "message_count", "last_message_at", "created_at", "updated_at"} <= set(talk)
    assert talk["message_count"] == 0 and talk["last_message_at"] is None
    fetched = api.request("get", f"/api/v1/talks/{talk['id']}", alice).get_json()
    assert fetched == talk


def test_creating_a_talk_with_an_unknown_model_or_field_is_a_validation_error(api, alice):
    response = api.request("post", "/api/v1/talks", alice, json={"model": "nope/nothing"})
    assert response.status_code == 422
    response = api.request("post", "/api/v1/talks", alice, json={"user_id": "someone"})
    assert response.status_code == 422
    assert "user_id" in response.get_json()["error"]["details"]


def test_patch_renames_archives_pins_and_tags(api, alice):
    talk = create_talk(api, alice, name="Old")
    response = api.request("patch", f"/api/v1/talks/{talk['id']}", alice,
                           json={"name": "New", "archived": True, "pinned": True,
                                 "tags": ["a", "b"]})
    assert response.status_code == 200
    changed = response.get_json()
    assert (changed["name"], changed["archived"], changed["pinned"], changed["tags"]) == (
        "New", True, True, ["a", "b"])


def test_listing_hides_archived_and_deleted_talks_unless_asked(api, alice):
    kept = create_talk(api, alice, name="kept")
    archived = create_talk(api, alice, name="archived")
    deleted = create_talk(api, alice, name="deleted")
    api.request("patch", f"/api/v1/talks/{archived['id']}", alice, json={"archived": True})
    assert api.request("delete", f"/api/v1/talks/{deleted['id']}", alice).status_code == 204

    def names(query=""):
        body = api.request("get", f"/api/v1/talks{query}", alice).get_json()
        return [talk["name"] for talk in body["items"]], body["total"]

    assert names() == (["kept"], 1)
    assert names("?archived=true") == (["archived"], 1)
    assert names("?deleted=true") == (["deleted"], 1)
    assert api.request("get", f"/api/v1/talks/{deleted['id']}", alice).status_code == 404
    restored = api.request("post", f"/api/v1/talks/{deleted['id']}/restore", alice)
    assert restored.status_code == 200
    assert sorted(names()[0]) == ["deleted", "kept"]
    assert kept["id"] in {t["id"] for t in api.request("get", "/api/v1/talks", alice)
                          .get_json()["items"]}


def test_listing_puts_pinned_first_then_newest_activity_and_filters_by_name(api, alice,
                                                                           mock_provider):
    first = create_talk(api, alice, name="first topic")
    second = create_talk(api, alice, name="second topic")
    third = create_talk(api, alice, name="third")
    send(api, alice, first["id"], "wake up")
    api.request("patch", f"/api/v1/talks/{third['id']}", alice, json={"pinned": True})
    body = api.request("get", "/api/v1/talks", alice).get_json()
    assert [t["id"] for t in body["items"]] == [third["id"], first["id"], second["id"]]
    body = api.request("get", "/api/v1/talks?q=TOPIC&size=1&page=2", alice).get_json()
    assert (body["total"], body["pages"], [t["id"] for t in body["items"]]) == (
        2, 2, [second["id"]])


def test_the_first_exchange_names_an_unnamed_talk(api, alice, mock_provider):
    talk = create_talk(api, alice)
    long_message = "How do I plan a three week trip through Portugal and Spain on a modest budget?"
    send(api, alice, talk["id"], long_message)
    named = api.request("get", f"/api/v1/talks/{talk['id']}", alice).get_json()
    assert named["name"].startswith("How do I plan a three week trip")
    assert len(named["name"]) <= 60 and named["name"].endswith("…")
    assert named["message_count"] == 2 and named["last_message_at"] is not None
    send(api, alice, talk["id"], "Something else entirely")
    assert api.request("get", f"/api/v1/talks/{talk['id']}", alice).get_json()["name"] == \
        named["name"]


def test_messages_page_back_with_a_cursor(api, alice, mock_provider):
    talk = create_talk(api, alice, name="paging")
    for n in range(3):
        send(api, alice, talk["id"], f"message {n}")
    url = f"/api/v1/talks/{talk['id']}/messages"
    newest = api.request("get", f"{url}?limit=4", alice).get_json()
    assert [m["content"] for m in newest["items"]] == [
        "message 1", "Echo: message 1", "message 2", "Echo: message 2"]
    assert newest["has_more"] is True
    older = api.request("get", f"{url}?limit=4&before={newest['next_before']}", alice).get_json()
    assert [m["content"] for m in older["items"]] == ["message 0", "Echo: message 0"]
    assert older["has_more"] is False and older["next_before"] is None
    bad = api.request("get", f"{url}?before=not-an-id", alice)
    assert bad.status_code == 422


def test_deleting_a_message_hides_it(api, alice, mock_provider):
    talk = create_talk(api, alice)
    exchange = send(api, alice, talk["id"], "forget me")
    url = f"/api/v1/talks/{talk['id']}/messages"
    assert api.request("delete", f"{url}/{exchange['user_message']['id']}", alice).status_code == 204
    items = api.request("get", url, alice).get_json()["items"]
    assert [m["id"] for m in items] == [exchange["assistant_message"]["id"]]
    assert api.request("delete", f"{url}/{exchange['user_message']['id']}", alice).status_code == 404


def test_export_as_json_and_markdown_attachments(api, alice, mock_provider):
    talk = create_talk(api, alice, name="Trip notes", tags=["travel"])
    send(api, alice, talk["id"], "Lisbon or Porto?")
    response = api.request("get", f"/api/v1/talks/{talk['id']}/export?format=json", alice)
    assert response.status_code == 200
    assert response.headers["Content-Disposition"].startswith("attachment")
    assert ".json" in response.headers["Content-Disposition"]
    body = json.loads(response.data)
    assert body["talk"]["name"] == "Trip notes"
    assert [m["content"] for m in body["messages"]] == ["Lisbon or Porto?", "Echo: Lisbon or Porto?"]
    response = api.request("get", f"/api/v1/talks/{talk['id']}/export?format=markdown", alice)
    assert response.status_code == 200
    assert response.mimetype == "text/markdown"
    text = response.data.decode()
    assert text.startswith("# Trip notes")
    assert "## User" in text and "Echo: Lisbon or Porto?" in text
    bad = api.request("get", f"/api/v1/talks/{talk['id']}/export?format=pdf", alice)
    assert bad.status_code == 422


def test_search_finds_talk_names_then_messages_of_the_caller_only(api, alice, mock_provider):
    bob = api.register(name="Bob")
    named = create_talk(api, alice, name="Banana bread")
    other = create_talk(api, alice, name="Kitchen")
    send(api, alice, other["id"], "Is a ripe BANANA sweeter?")
    gone = create_talk(api, alice, name="Gone")
    send(api, alice, gone["id"], "banana split")
    api.request("delete", f"/api/v1/talks/{gone['id']}", alice)
    bobs = create_talk(api, bob, name="banana for bob")
    send(api, bob, bobs["id"], "banana")

    body = api.request("get", "/api/v1/search?q=banana", alice).get_json()
    hits = body["items"]
    assert body["total"] == 3
    assert hits[0] == {**hits[0], "talk_id": named["id"], "talk_name": "Banana bread",
                       "message_id": None}
    assert {(h["talk_id"], h["talk_name"]) for h in hits[1:]} == {(other["id"], "Kitchen")}
    assert {h["snippet"] for h in hits[1:]} == {"Is a ripe BANANA sweeter?",
                                               "Echo: Is a ripe BANANA sweeter?"}
    second_page = api.request("get", "/api/v1/search?q=banana&size=2&page=2", alice).get_json()
    assert [h["snippet"] for h in second_page["items"]] == ["Is a ripe BANANA sweeter?"]
    assert api.request("get", "/api/v1/search?q=", alice).status_code == 422


def test_a_long_message_gives_a_snippet_around_the_match(api, alice, mock_provider):
    talk = create_talk(api, alice, name="long")
    text = "filler " * 100 + "needle here" + " tail" * 100
    send(api, alice, talk["id"], text)
    hits = api.request("get", "/api/v1/search?q=needle", alice).get_json()["items"]
    assert all("needle" in h["snippet"] and len(h["snippet"]) <= 162 for h in hits)


def test_every_talk_chat_and_chatai_route_is_in_the_openapi_spec(app, client):
    spec = client.get("/openapi.json").get_json()["paths"]
    prefixes = ("/api/v1/talks", "/api/v1/search", "/api/v1/llm", "/api/v1/ws/talks",
                "/api/login", "/api/me", "/api/talk", "/api/message")
    checked = 0
    for rule in app.url_map.iter_rules():
        if not rule.rule.startswith(prefixes):
            continue
        path = rule.rule.replace("<", "{").replace(">", "}")
        methods = {"get"} if rule.websocket else {m.lower() for m in rule.methods} - {
            "head", "options"}
        assert path in spec, path
        assert methods <= set(spec[path]), (path, methods)
        checked += 1
    assert checked >= 20
    assert "101" in spec["/api/v1/ws/talks/{talk_id}"]["get"]["responses"]
    send = spec["/api/v1/talks/{talk_id}/messages"]["post"]
    assert "text/event-stream" in send["responses"]["200"]["content"]
    assert "requestBody" in send
