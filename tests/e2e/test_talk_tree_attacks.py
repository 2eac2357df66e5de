"""Issue 20 under attack: what a share link, a fork and an export carry of a talk that other
people or tools wrote into, and who can still read a link once its maker left the workspace."""
from __future__ import annotations

import json

import pytest
from bson import ObjectId
from markdown_it import MarkdownIt

from entities.clock import utcnow
from tests.e2e.test_message_trees_migration import migration_module
from tests.support.agents import ToolServer, create_agent, http_tool


@pytest.fixture
def settings_overrides():
    return {"outbound_allowlist": ("127.0.0.1",), "budget_cache_ttl_s": 0.0}


@pytest.fixture
def tool_server():
    server = ToolServer(reply={"internal_token": "TOOL-SECRET-42"})
    yield server
    server.close()


@pytest.fixture
def agent_talk(api, mock_provider, tool_server):
    """An agent's talk after one reply: user -> assistant(tool_calls) -> tool -> final."""
    owner = api.register()
    agent = create_agent(api, owner, tools=[http_tool(tool_server.url)])
    talk = api.request("POST", "/api/v1/talks", owner, json={"agent_id": agent["id"]}).get_json()
    mock_provider.behave(None, call_tools=True, tool_arguments={"q": "Lisbon"})
    sent = api.request("POST", f"/api/v1/talks/{talk['id']}/messages", owner,
                       json={"content": "Weather?"})
    assert sent.status_code == 201, sent.get_json()
    return owner, talk


def every_message(api, session, talk_id):
    response = api.request("GET", f"/api/v1/talks/{talk_id}/messages", session,
                           query_string={"branch": "all"})
    assert response.status_code == 200, response.get_json()
    return response.get_json()["items"]


def test_a_share_of_an_agent_talk_carries_no_tool_call_or_result(api, client, agent_talk):
    owner, talk = agent_talk
    share = api.request("POST", f"/api/v1/talks/{talk['id']}/shares", owner, json={}).get_json()
    public = client.get(f"/api/v1/shared/{share['id']}")
    assert public.status_code == 200
    messages = public.get_json()["messages"]
    # the final answer is the agent's to show; the tool's raw result and the call are not
    assert [m["role"] for m in messages] == ["user", "assistant"]
    assert messages[1]["content"].startswith("The tool said:")
    assert public.get_data(as_text=True).count("TOOL-SECRET-42") == 1


def test_a_fork_keeps_an_agent_reply_s_tool_calls_and_results(api, agent_talk):
    owner, talk = agent_talk
    source = every_message(api, owner, talk["id"])
    final = source[-1] if source[-1]["role"] == "assistant" and not source[-1].get("tool_calls") \
        else next(m for m in source if m["role"] == "assistant" and not m.get("tool_calls"))
    forked = api.request("POST", f"/api/v1/talks/{talk['id']}/fork", owner,
                         json={"message_id": final["id"]})
    assert forked.status_code == 201, forked.get_json()
    copied = every_message(api, owner, forked.get_json()["id"])
    calls = [m for m in copied if m.get("tool_calls")]
    tools = [m for m in copied if m["role"] == "tool"]
    assert len(calls) == 1 and len(tools) == 1
    assert tools[0]["tool_call_id"] == calls[0]["tool_calls"][0]["id"]
    assert tools[0]["name"] == "lookup"
    assert json.loads(tools[0]["content"]) == {"internal_token": "TOOL-SECRET-42"}


def test_a_share_made_by_a_member_since_removed_is_not_readable(api, client, mock_provider):
    owner, member = api.register(), api.register()
    workspace = client.post("/api/v1/workspaces", json={"name": "Team"},
                            headers=owner.headers).get_json()["id"]
    client.post(f"/api/v1/workspaces/{workspace}/members",
                json={"email": member.user["email"], "role": "member"}, headers=owner.headers)
    talk = api.request("POST", "/api/v1/talks", member,
                       json={"workspace_id": workspace}).get_json()
    api.request("POST", f"/api/v1/talks/{talk['id']}/messages", member, json={"content": "plan"})
    share = api.request("POST", f"/api/v1/talks/{talk['id']}/shares", member, json={}).get_json()
    assert client.get(f"/api/v1/shared/{share['id']}").status_code == 200
    removed = client.delete(f"/api/v1/workspaces/{workspace}/members/{member.id}",
                            headers=owner.headers)
    assert removed.status_code == 204, removed.get_json()
    assert client.get(f"/api/v1/shared/{share['id']}").status_code == 404
    stranger = api.register()
    assert api.request("POST", f"/api/v1/shared/{share['id']}/fork", stranger,
                       json={}).status_code == 404


def stored_line(db, talk_id: str, count: int, size: int) -> list[ObjectId]:
    """`count` messages of `size` characters as one line, the last one current (what a long
    talk holds; written directly, a model would take too long)."""
    talk = db.talks.find_one({"_id": ObjectId(talk_id)})
    ids, parent, docs = [], None, []
    now = utcnow()
    for index in range(count):
        oid = ObjectId()
        docs.append({"_id": oid, "talk_id": talk["_id"], "seq": index + 1,
                     "workspace_id": talk["workspace_id"], "user_id": talk["user_id"],
                     "role": "user" if index % 2 == 0 else "assistant", "content": "x" * size,
                     "status": "complete", "model": None, "parent_id": parent, "file_ids": [],
                     "deleted": False, "stop_requested": False, "created_at": now,
                     "updated_at": now})
        ids.append(oid)
        parent = oid
    db.messages.insert_many(docs)
    db.talks.update_one({"_id": talk["_id"]}, {"$set": {
        "current_leaf_id": parent, "last_seq": count, "message_count": count}})
    return ids


def test_a_talk_too_long_to_snapshot_is_refused_with_413_not_a_500(api, db):
    owner = api.register()
    talk = api.request("POST", "/api/v1/talks", owner, json={}).get_json()
    ids = stored_line(db, talk["id"], 90, 100_000)  # ~9 MB of text on the path
    refused = api.request("POST", f"/api/v1/talks/{talk['id']}/shares", owner, json={})
    assert refused.status_code == 413, refused.get_json()
    assert refused.get_json()["error"]["code"] == "payload_too_large"
    assert db.shares.count_documents({}) == 0
    # a shorter path of the same talk still shares
    db.messages.update_many({"_id": {"$in": ids[10:]}}, {"$set": {"deleted": True}})
    shared = api.request("POST", f"/api/v1/talks/{talk['id']}/shares", owner, json={})
    assert shared.status_code == 201, shared.get_json()


def test_a_markdown_export_keeps_its_structure_whatever_the_talk_holds(api, mock_provider):
    owner = api.register()
    talk = api.request("POST", "/api/v1/talks", owner, json={
        "name": "Trip\n# Injected <img src=x onerror=alert(1)> [click](http://evil.example)",
        "system_prompt": "Be kind.\n\n## User — forged\n<script>alert(1)</script>\n```",
        "tags": ["a\n## Tag heading"]}).get_json()
    mock_provider.behave(None, reply="Here:\n```python\nprint(1)\n")  # a fence never closed
    api.request("POST", f"/api/v1/talks/{talk['id']}/messages", owner, json={"content": "code?"})
    mock_provider.behave(None, reply="Done.")
    api.request("POST", f"/api/v1/talks/{talk['id']}/messages", owner, json={"content": "next"})
    response = api.request("GET", f"/api/v1/talks/{talk['id']}/export?format=markdown", owner)
    assert response.status_code == 200
    assert response.mimetype == "text/markdown"
    assert response.headers["Content-Disposition"].startswith("attachment")
    assert response.headers["X-Content-Type-Options"] == "nosniff"

    tokens = MarkdownIt("commonmark").parse(response.get_data(as_text=True))
    headings = [(token.tag, tokens[index + 1].content) for index, token in enumerate(tokens)
                if token.type == "heading_open"]
    assert [tag for tag, _ in headings] == ["h1", "h2", "h2", "h2", "h2"]
    assert headings[0][1].startswith("Trip")
    assert [text.split(" ")[0] for _, text in headings[1:]] == [
        "User", "Assistant", "User", "Assistant"]
    inline = [child for token in tokens for child in (token.children or [])]
    assert not [t for t in [*tokens, *inline] if t.type in ("html_block", "html_inline",
                                                           "link_open", "image")]
    fences = [token.content for token in tokens if token.type == "fence"]
    assert "<script>alert(1)</script>" in fences[0]  # the system prompt, verbatim
    assert fences[1] == "print(1)\n"  # the reply's code, closed before the next turn


def test_a_talk_whose_reply_lost_its_user_message_still_reads_as_one_line(app, api, db,
                                                                          mock_provider):
    """Odd data before trees: a reply whose parent is gone (or another talk's) must not cut the
    line, neither when read before the migration nor after it; a second run changes nothing."""
    owner = api.register()
    url = "/api/v1/talks/{}/messages"
    talks = []
    for _ in range(2):
        talk = api.request("POST", "/api/v1/talks", owner, json={}).get_json()
        for text in ("one", "two", "three"):
            api.request("POST", url.format(talk["id"]), owner, json={"content": text})
        stored = {m["content"]: m for m in db.messages.find({"talk_id": ObjectId(talk["id"])})}
        db.messages.update_many({"talk_id": ObjectId(talk["id"]), "role": "user"},
                                {"$set": {"parent_id": None}})
        db.talks.update_one({"_id": ObjectId(talk["id"])}, {"$unset": {"current_leaf_id": ""}})
        talks.append((talk, stored))
    (gone, stored), (elsewhere, other) = talks
    db.messages.delete_one({"_id": stored["two"]["_id"]})  # "Echo: two" lost its parent
    db.messages.update_one({"_id": other["Echo: two"]["_id"]},  # points into another talk
                           {"$set": {"parent_id": stored["one"]["_id"]}})
    line = {gone["id"]: ["one", "Echo: one", "Echo: two", "three", "Echo: three"],
            elsewhere["id"]: ["one", "Echo: one", "two", "Echo: two", "three", "Echo: three"]}

    def contents(talk_id):
        items = api.request("GET", url.format(talk_id), owner).get_json()["items"]
        return [m["content"] for m in items]

    for talk_id, expected in line.items():
        assert contents(talk_id) == expected  # read tolerantly before the migration
    result = app.test_cli_runner().invoke(args=["migrate"])
    assert result.exit_code == 0, result.output
    for talk_id, expected in line.items():
        assert contents(talk_id) == expected
    after = list(db.messages.find({}, {"parent_id": 1}).sort("_id", 1))
    migration_module().upgrade(db)
    assert list(db.messages.find({}, {"parent_id": 1}).sort("_id", 1)) == after


def test_a_snapshot_stored_with_tool_messages_does_not_show_or_fork_them(api, client, db,
                                                                         agent_talk):
    """Links made before tool messages were left out of snapshots hold them: still hidden."""
    owner, talk = agent_talk
    share = api.request("POST", f"/api/v1/talks/{talk['id']}/shares", owner, json={}).get_json()
    stored = db.shares.find_one({"_id": share["id"]})["messages"]
    db.shares.update_one({"_id": share["id"]}, {"$set": {"messages": [
        stored[0], {**stored[1], "content": ""},
        {"role": "tool", "content": '{"internal_token": "TOOL-SECRET-42"}', "model": None,
         "created_at": stored[1]["created_at"]}, *stored[1:]]}})
    public = client.get(f"/api/v1/shared/{share['id']}").get_json()
    assert [m["role"] for m in public["messages"]] == ["user", "assistant"]
    copy = api.request("POST", f"/api/v1/shared/{share['id']}/fork", api.register(),
                       json={}).get_json()
    assert copy["message_count"] == 2


def test_regenerating_an_agent_s_answer_answers_the_user_message_again(api, agent_talk,
                                                                       mock_provider):
    """The answer follows a tool result the model would not be sent (tool messages stay out of
    later prompts): the new reply is a new turn of the agent, under the user's message."""
    owner, talk = agent_talk
    stored = every_message(api, owner, talk["id"])
    user = next(m for m in stored if m["role"] == "user")
    first_call = next(m for m in stored if m.get("tool_calls"))
    final = next(m for m in stored if m["role"] == "assistant" and not m.get("tool_calls"))
    again = api.request("POST", f"/api/v1/talks/{talk['id']}/messages/{final['id']}/regenerate",
                        owner, json={})
    assert again.status_code == 201, again.get_json()
    assert again.get_json()["user_message"]["id"] == user["id"]
    nodes = {n["id"]: n for n in api.request("GET", f"/api/v1/talks/{talk['id']}/tree",
                                             owner).get_json()["nodes"]}
    assert len(nodes[user["id"]]["children"]) == 2
    assert nodes[user["id"]]["children"][0] == first_call["id"]
    assert [m["role"] for m in mock_provider.requests[-2]["messages"]][-1] == "user"
    assert nodes[final["id"]]["status"] == "superseded"
