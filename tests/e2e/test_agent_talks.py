"""Talks bound to an agent: the model calls tools (the mock provider scripts the calls), the
server runs them as the talk's user, stores every call and result as messages chained by
`parent_id`, streams `tool_call` / `tool_result` events (SSE and WebSocket), and loops until an
answer or `max_tool_rounds`; budgets apply to every round; stop works mid-loop."""
from __future__ import annotations

import json
import threading

import pytest

from tests.support.agents import ToolServer, create_agent, http_tool, workflow_tool
from tests.support.streams import parse_sse
from tests.support.workflows import (
    create_workflow,
    edge,
    greeting_workflow,
    input_node,
    node,
)


@pytest.fixture
def settings_overrides():
    return {"outbound_allowlist": ("127.0.0.1",), "budget_cache_ttl_s": 0.0,
            "chat_flush_interval_s": 0.05, "workflow_wait_s": 300.0}


@pytest.fixture
def owner(api):
    return api.register()


@pytest.fixture
def tool_server():
    server = ToolServer()
    yield server
    server.close()


def new_talk(api, session, agent) -> dict:
    response = api.request("POST", "/api/v1/talks", session, json={"agent_id": agent["id"]})
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def messages_of(api, session, talk) -> list[dict]:
    return api.request("GET", f"/api/v1/talks/{talk['id']}/messages", session).get_json()["items"]


def by_parent_chain(messages: list[dict]) -> list[dict]:
    """The messages from the user's to the final reply, following `parent_id`."""
    children = {m["parent_id"]: m for m in messages if m["parent_id"]}
    chain = [next(m for m in messages if m["role"] == "user")]
    while chain[-1]["id"] in children:
        chain.append(children[chain[-1]["id"]])
    return chain


def test_a_workflow_tool_leads_to_an_answer_from_its_outputs(api, owner, mock_provider):
    workflow = create_workflow(api, owner, greeting_workflow())
    agent = create_agent(api, owner, tools=[workflow_tool(workflow["id"])])
    talk = new_talk(api, owner, agent)
    mock_provider.behave(None, call_tools=True, tool_arguments={"name": "Ada"})
    response = api.request("POST", f"/api/v1/talks/{talk['id']}/messages", owner,
                           json={"content": "Greet Ada"})
    assert response.status_code in (200, 201), response.get_json()
    answer = response.get_json()["assistant_message"]
    assert answer["status"] == "complete"
    assert "Hello Ada!" in answer["content"]
    first, second = mock_provider.requests[-2:]
    assert first["messages"][0] == {"role": "system", "content": "Be brief."}
    spec = first["tools"][0]["function"]
    assert spec["name"] == "greet" and spec["parameters"]["properties"] == {
        "name": {"type": "string"}}
    assert second["messages"][-1]["role"] == "tool"

    chain = by_parent_chain(messages_of(api, owner, talk))
    assert [m["role"] for m in chain] == ["user", "assistant", "tool", "assistant"]
    call = chain[1]["tool_calls"][0]
    assert call["name"] == "greet" and json.loads(call["arguments"]) == {"name": "Ada"}
    assert chain[2]["tool_call_id"] == call["id"] and chain[2]["name"] == "greet"
    assert json.loads(chain[2]["content"]) == {"greeting": "Hello Ada!"}
    assert chain[3]["id"] == answer["id"]


def test_an_http_tool_streams_its_call_and_result_between_deltas(api, owner, mock_provider,
                                                                 tool_server):
    agent = create_agent(api, owner, tools=[http_tool(tool_server.url)])
    talk = new_talk(api, owner, agent)
    mock_provider.behave(None, call_tools=True, tool_arguments={"q": "Lisbon"})
    response = api.request("POST", f"/api/v1/talks/{talk['id']}/messages", owner,
                           json={"content": "Weather?", "stream": True})
    events = parse_sse(response.get_data(as_text=True))
    names = [name for name, _ in events]
    assert names[:2] == ["user_message", "start"] and names[-1] == "done"
    assert names.index("tool_call") < names.index("tool_result") < names.index("delta")
    call = dict(events)["tool_call"]
    result = dict(events)["tool_result"]
    assert (call["name"], json.loads(call["arguments"])) == ("lookup", {"q": "Lisbon"})
    assert result["id"] == call["id"] and "error" not in result
    assert json.loads(result["content"]) == {"temperature_c": 21}
    assert tool_server.requests[0][:2] == ("GET", "/weather?q=Lisbon")
    done = dict(events)["done"]["message"]
    assert done["status"] == "complete" and "temperature_c" in done["content"]
    chain = by_parent_chain(messages_of(api, owner, talk))
    assert [m["role"] for m in chain] == ["user", "assistant", "tool", "assistant"]
    assert chain[-1]["id"] == done["id"]


def test_a_failing_tool_goes_back_to_the_model_as_its_result(api, owner, mock_provider):
    agent = create_agent(api, owner, tools=[http_tool("http://127.0.0.1:1/nothing")])
    talk = new_talk(api, owner, agent)
    mock_provider.behave(None, call_tools=True)
    answer = api.request("POST", f"/api/v1/talks/{talk['id']}/messages", owner,
                         json={"content": "try"}).get_json()["assistant_message"]
    assert answer["status"] == "complete" and answer["content"].startswith("The tool said: Error")
    tool = next(m for m in messages_of(api, owner, talk) if m["role"] == "tool")
    assert tool["content"].startswith("Error:") and tool["error"]


def test_the_loop_stops_at_max_tool_rounds_with_a_final_answer(api, owner, mock_provider,
                                                               tool_server):
    agent = create_agent(api, owner, tools=[http_tool(tool_server.url)], max_tool_rounds=2)
    talk = new_talk(api, owner, agent)
    mock_provider.behave(None, call_tools=True, call_tools_always=True)
    answer = api.request("POST", f"/api/v1/talks/{talk['id']}/messages", owner,
                         json={"content": "loop"}).get_json()["assistant_message"]
    assert answer["status"] == "complete"
    calls = mock_provider.requests
    assert len(calls) == 3 and "tools" in calls[1] and "tools" not in calls[2]
    assert len(tool_server.requests) == 2
    roles = [m["role"] for m in by_parent_chain(messages_of(api, owner, talk))]
    assert roles == ["user", "assistant", "tool", "assistant", "tool", "assistant"]


def test_a_budget_spent_in_the_middle_of_the_loop_refuses_the_next_round(
        api, owner, mock_provider, tool_server, db):
    workspace = api.personal_workspace(owner)

    def spend_everything():  # the tool's run empties the budget before the next round
        from bson import ObjectId
        db.workspaces.update_one({"_id": ObjectId(workspace)},
                                 {"$set": {"settings.monthly_budget_usd": 1e-9}})

    tool_server.on_request = spend_everything
    agent = create_agent(api, owner, tools=[http_tool(tool_server.url)])
    talk = new_talk(api, owner, agent)
    mock_provider.behave(None, call_tools=True)
    response = api.request("POST", f"/api/v1/talks/{talk['id']}/messages", owner,
                           json={"content": "spend"})
    assert response.status_code == 402
    assert len(mock_provider.requests) == 1
    chain = by_parent_chain(messages_of(api, owner, talk))
    assert [m["role"] for m in chain] == ["user", "assistant", "tool", "assistant"]
    assert chain[-1]["status"] == "failed"
    assert json.loads(chain[2]["content"]) == {"temperature_c": 21}  # nothing lost


def test_a_budget_refusal_mid_loop_ends_the_stream_with_an_error_event(
        api, owner, mock_provider, tool_server, db):
    workspace = api.personal_workspace(owner)

    def spend_everything():
        from bson import ObjectId
        db.workspaces.update_one({"_id": ObjectId(workspace)},
                                 {"$set": {"settings.monthly_budget_usd": 1e-9}})

    tool_server.on_request = spend_everything
    agent = create_agent(api, owner, tools=[http_tool(tool_server.url)])
    talk = new_talk(api, owner, agent)
    mock_provider.behave(None, call_tools=True)
    response = api.request("POST", f"/api/v1/talks/{talk['id']}/messages", owner,
                           json={"content": "spend", "stream": True})
    events = parse_sse(response.get_data(as_text=True))
    assert [n for n, _ in events][-3:] == ["tool_call", "tool_result", "error"]
    assert events[-1][1]["code"] == "budget_exceeded"
    assert len(mock_provider.requests) == 1
    assert [m["role"] for m in by_parent_chain(messages_of(api, owner, talk))] == [
        "user", "assistant", "tool", "assistant"]


def test_stop_in_the_middle_of_the_loop_ends_the_reply_stopped(api, owner, mock_provider,
                                                               tool_server, db):
    entered, release = threading.Event(), threading.Event()

    def block():
        entered.set()
        release.wait(30)

    tool_server.on_request = block
    agent = create_agent(api, owner, tools=[http_tool(tool_server.url)])
    talk = new_talk(api, owner, agent)
    mock_provider.behave(None, call_tools=True, call_tools_always=True)
    path = f"/api/v1/talks/{talk['id']}"
    streamed: list = []
    sender = threading.Thread(target=lambda: streamed.append(api.request(
        "POST", f"{path}/messages", owner, json={"content": "go", "stream": True}
    ).get_data(as_text=True)))
    sender.start()
    assert entered.wait(30)
    stopper = threading.Thread(target=lambda: api.request("POST", f"{path}/stop", owner))
    stopper.start()
    while not db.messages.find_one({"status": "streaming", "stop_requested": True}):
        threading.Event().wait(0.02)
    release.set()
    stopper.join(30)
    sender.join(30)
    events = parse_sse(streamed[0])
    assert events[-1][0] == "done" and events[-1][1]["message"]["status"] == "stopped"
    assert len(mock_provider.requests) == 1  # no round after the stop


def test_another_tenants_agent_cannot_be_bound_to_a_talk(api, owner):
    agent = create_agent(api, owner)
    stranger = api.register()
    response = api.request("POST", "/api/v1/talks", stranger, json={"agent_id": agent["id"]})
    assert response.status_code == 404


def test_tool_events_reach_a_websocket_between_deltas(app, api, owner, mock_provider,
                                                      tool_server):
    import websocket

    from tests.support.streams import served

    agent = create_agent(api, owner, tools=[http_tool(tool_server.url)])
    talk = new_talk(api, owner, agent)
    mock_provider.behave(None, call_tools=True, tool_arguments={"q": "Faro"})
    with served(app) as base:
        ws = websocket.create_connection(
            f"{base.replace('http://', 'ws://')}/api/v1/ws/talks/{talk['id']}"
            f"?token={owner.access_token}", timeout=15)
        try:
            ws.send(json.dumps({"type": "message", "content": "Weather in Faro?"}))
            frames = []
            while not frames or frames[-1]["type"] not in ("done", "error"):
                frames.append(json.loads(ws.recv()))
        finally:
            ws.close()
    kinds = [frame["type"] for frame in frames]
    assert kinds.index("tool_call") < kinds.index("tool_result") < kinds.index("delta")
    assert kinds[-1] == "done" and frames[-1]["message"]["status"] == "complete"
    call = frames[kinds.index("tool_call")]
    result = frames[kinds.index("tool_result")]
    assert call["name"] == "lookup" and json.loads(call["arguments"]) == {"q": "Faro"}
    assert result["id"] == call["id"] and json.loads(result["content"]) == {"temperature_c": 21}
    seqs = [frame["seq"] for frame in frames[1:]]
    assert seqs == list(range(len(seqs)))  # one seq per event, tool events included


@pytest.mark.parametrize("settings_overrides", [{
    "outbound_allowlist": ("127.0.0.1",), "ratelimit_llm": "2 per minute"}])
def test_every_round_counts_against_the_model_call_rate_limit(api, owner, mock_provider,
                                                              tool_server):
    agent = create_agent(api, owner, tools=[http_tool(tool_server.url)], max_tool_rounds=5)
    talk = new_talk(api, owner, agent)
    mock_provider.behave(None, call_tools=True, call_tools_always=True)
    response = api.request("POST", f"/api/v1/talks/{talk['id']}/messages", owner,
                           json={"content": "loop"})
    assert response.status_code == 429  # the send, the 2nd round, then the 3rd is refused
    assert len(mock_provider.requests) == 2
    chain = by_parent_chain(messages_of(api, owner, talk))
    assert [m["role"] for m in chain] == ["user", "assistant", "tool", "assistant", "tool",
                                          "assistant"]
    assert chain[-1]["status"] == "failed"


def test_at_most_sixteen_tool_calls_of_one_answer_run(api, owner, mock_provider, tool_server):
    agent = create_agent(api, owner, tools=[http_tool(tool_server.url)])
    talk = new_talk(api, owner, agent)
    mock_provider.behave(None, call_tools=True, tool_call_count=40)
    answer = api.request("POST", f"/api/v1/talks/{talk['id']}/messages", owner,
                         json={"content": "many"}).get_json()["assistant_message"]
    assert answer["status"] == "complete"
    assert len(tool_server.requests) == 16
    tools = [m for m in messages_of(api, owner, talk) if m["role"] == "tool"]
    assert len(tools) == 40 and sum(1 for m in tools if m["error"]) == 24


def test_stop_ends_a_running_workflow_tool_and_cancels_its_run(api, owner, mock_provider,
                                                              tool_server):
    entered, release = threading.Event(), threading.Event()

    def block():
        entered.set()
        release.wait(120)

    tool_server.on_request = block
    workflow = create_workflow(api, owner, {
        "name": "Slow", "nodes": [input_node("q"),
                                  node("call", "http_request", method="GET", url=tool_server.url),
                                  node("done", "output", outputs={"r": "{{ call.output }}"})],
        "edges": [edge("start", "call"), edge("call", "done")]})
    agent = create_agent(api, owner, tools=[workflow_tool(workflow["id"], "slow")])
    talk = new_talk(api, owner, agent)
    mock_provider.behave(None, call_tools=True)
    path = f"/api/v1/talks/{talk['id']}"
    streamed: list = []
    sender = threading.Thread(target=lambda: streamed.append(api.request(
        "POST", f"{path}/messages", owner, json={"content": "go", "stream": True}
    ).get_data(as_text=True)))
    sender.start()
    try:
        assert entered.wait(60)
        assert api.request("POST", f"{path}/stop", owner).status_code < 300
        sender.join(60)  # the workflow's wait is 300 s: only the stop can end the reply now
        assert not sender.is_alive()
    finally:
        release.set()
        sender.join(60)
    events = parse_sse(streamed[0])
    result = next(data for name, data in events if name == "tool_result")
    assert "stopped" in result["error"]
    assert events[-1][0] == "done" and events[-1][1]["message"]["status"] == "stopped"
    runs = api.request("GET", f"/api/v1/workflows/{workflow['id']}/executions", owner).get_json()
    assert [run["status"] for run in runs["items"]] == ["cancelled"]


def test_empty_or_repeated_tool_call_ids_from_the_model_are_replaced(api, owner, mock_provider,
                                                                    tool_server):
    agent = create_agent(api, owner, tools=[http_tool(tool_server.url)])
    talk = new_talk(api, owner, agent)
    for given in ("", "call_1"):
        mock_provider.behave(None, call_tools=True, tool_call_count=2, tool_call_id=given)
        answer = api.request("POST", f"/api/v1/talks/{talk['id']}/messages", owner,
                             json={"content": "twice"}).get_json()["assistant_message"]
        assert answer["status"] == "complete"
        sent = mock_provider.requests[-1]["messages"]
        calls = [c["id"] for m in sent if m.get("tool_calls") for c in m["tool_calls"]][-2:]
        assert all(calls) and len(set(calls)) == 2
        assert [m["tool_call_id"] for m in sent if m["role"] == "tool"][-2:] == calls
