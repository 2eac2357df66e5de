"""Tool kinds on fakes: how a config is checked and stored, what the model is offered, how a
call runs; and the registry's refusals."""
from __future__ import annotations

import json

import pytest

from entities.actor import Actor
from entities.agent import Agent
from entities.deadline import Deadline
from entities.errors import ValidationFailed
from entities.outbound import OutboundRefused
from tests.fakes.shared import FakeEncryptor, FakeOutboundHttp
from use_cases.agents.http_tool import HttpTool
from use_cases.agents.secret_headers import MASK
from use_cases.agents.tools import ToolContext, ToolError, ToolKinds, ToolScope
from use_cases.agents.workflow_tool import schema_of

ACTOR = Actor("u1")
SCOPE = ToolScope(actor=ACTOR, workspace_id="ws1")


def context(agent_tools: list[dict]) -> ToolContext:
    agent = Agent(id="a1", workspace_id="ws1", name="A", model="m", created_by="u1",
                  tools=agent_tools)
    return ToolContext(actor=ACTOR, workspace_id="ws1", agent=agent, deadline=Deadline.after(5))


def stored_http(http: FakeOutboundHttp, **config) -> tuple[HttpTool, dict]:
    kind = HttpTool(http, FakeEncryptor())
    raw = {"type": "http", "name": "lookup", "url": "https://api.example.com/s", **config}
    return kind, kind.prepare(kind.load(raw), None, SCOPE)


def test_an_http_tool_sends_arguments_as_the_query_for_get_and_as_json_otherwise():
    http = FakeOutboundHttp()
    get, stored_get = stored_http(http, headers={"X-Key": "k"})
    result = get.call(stored_get, "lookup", {"q": "a b", "n": 2}, context([stored_get]))
    method, url, headers, body = http.requests[-1]
    assert (method, url, body) == ("GET", "https://api.example.com/s?q=a+b&n=2", None)
    assert headers["X-Key"] == "k" and json.loads(result.content) == {"ok": True}
    post, stored_post = stored_http(http, method="POST")
    post.call(stored_post, "lookup", {"q": "x"}, context([stored_post]))
    assert http.requests[-1][3] == b'{"q": "x"}'
    assert http.requests[-1][2]["Content-Type"] == "application/json"


def test_an_http_error_status_is_an_error_result_for_the_model():
    http = FakeOutboundHttp(503)
    kind, stored = stored_http(http)
    result = kind.call(stored, "lookup", {}, context([stored]))
    assert result.error and result.error.startswith("HTTP 503")


def test_http_headers_are_encrypted_masked_and_kept_when_sent_back_masked():
    http = FakeOutboundHttp()
    kind, stored = stored_http(http, headers={"X-Key": "secret"})
    assert stored["headers_encrypted"]["X-Key"].startswith("enc:")
    shown = kind.public(stored)
    assert shown["headers"] == {"X-Key": MASK} and "headers_encrypted" not in shown
    again = kind.prepare(kind.load(shown), stored, SCOPE)
    assert again["headers_encrypted"] == stored["headers_encrypted"]


def test_an_http_tool_to_a_private_address_is_refused_on_save():
    with pytest.raises(OutboundRefused):
        stored_http(FakeOutboundHttp(), url="http://10.0.0.1/admin")


def test_unknown_fields_and_bad_names_are_refused_by_the_kind_schema():
    kind = HttpTool(FakeOutboundHttp(), FakeEncryptor())
    with pytest.raises(ValidationFailed) as raised:
        kind.load({"type": "http", "name": "no spaces", "url": "https://x", "extra": 1})
    assert set(raised.value.details) == {"name", "extra"}


def test_the_registry_refuses_an_unknown_type_and_two_kinds_of_one_name():
    kind = HttpTool(FakeOutboundHttp(), FakeEncryptor())
    with pytest.raises(ValidationFailed):
        ToolKinds(kind)["nope"]
    with pytest.raises(ValueError):
        ToolKinds(kind, HttpTool(FakeOutboundHttp(), FakeEncryptor()))


def test_workflow_input_fields_become_a_json_schema():
    assert schema_of([{"name": "city", "type": "string", "required": True,
                       "description": "Where"}, {"name": "days", "type": "number"}]) == {
        "type": "object", "required": ["city"],
        "properties": {"city": {"type": "string", "description": "Where"},
                       "days": {"type": "number"}}}


def test_masked_http_headers_do_not_follow_the_url_to_another_server():
    http = FakeOutboundHttp()
    kind, stored = stored_http(http, headers={"Authorization": "Bearer secret"})
    moved = {**kind.public(stored), "url": "https://attacker.example.net/collect"}
    with pytest.raises(ValidationFailed) as raised:
        kind.prepare(kind.load(moved), stored, SCOPE)
    assert "Authorization" in raised.value.details["headers"]
    same_server = {**kind.public(stored), "url": "https://api.example.com/other?x=1"}
    kept = kind.prepare(kind.load(same_server), stored, SCOPE)
    assert kept["headers_encrypted"] == stored["headers_encrypted"]
    resent = {**moved, "headers": {"Authorization": "Bearer theirs"}}
    assert kind.prepare(kind.load(resent), stored, SCOPE)["headers_encrypted"] == {
        "Authorization": FakeEncryptor().encrypt("Bearer theirs")}


def test_the_model_cannot_override_the_query_parameters_written_in_an_http_tools_url():
    http = FakeOutboundHttp()
    kind, stored = stored_http(http, url="https://api.example.com/s?account=team1")
    with pytest.raises(ToolError) as raised:
        kind.call(stored, "lookup", {"q": "x", "account": "team2"}, context([stored]))
    assert "account" in raised.value.message and http.requests == []
    kind.call(stored, "lookup", {"q": "x"}, context([stored]))
    assert http.requests[-1][1] == "https://api.example.com/s?account=team1&q=x"
