"""Agents: the hand-written fake (tests/fakes/agents.py) and the MongoDB repository on the wire
server give the same results."""
from __future__ import annotations

from datetime import timedelta

import pytest

from entities.agent import Agent
from entities.clock import utcnow
from entities.pagination import PageRequest
from repositories.agents import MongoAgentRepository
from tests.fakes.agents import FakeAgentRepository

WS = "0123456789abcdef01234567"
USER = "89abcdef0123456789abcdef"
FILE = "fedcba9876543210fedcba98"


@pytest.fixture(params=["fake", "wire"])
def agents(request):
    if request.param == "fake":
        return FakeAgentRepository()
    repository = MongoAgentRepository(request.getfixturevalue("wire_db"))
    repository.ensure_indexes()
    return repository


def new_agent(agents, name: str = "Helper", **fields) -> Agent:
    now = utcnow() - timedelta(minutes=1)  # a save (now) is always a later change
    return agents.add(Agent(id="", workspace_id=WS, name=name, model="openai/m", created_by=USER,
                            created_at=now, updated_at=now, **fields))


def test_an_agent_comes_back_as_stored_tools_and_files_included(agents):
    tools = [{"type": "http", "name": "h", "url": "https://x", "parameters": {
        "type": "object", "properties": {"$odd.key": {"type": "string"}}}}]
    agent = new_agent(agents, tools=tools, file_ids=[FILE], temperature=0.5, max_tool_rounds=3)
    got = agents.get(agent.id)
    assert got is not None
    assert (got.tools, got.file_ids, got.temperature, got.max_tool_rounds, got.version) == (
        tools, [FILE], 0.5, 3, 1)
    assert agents.get("not-an-id") is None


def test_save_bumps_the_version_and_delete_hides_the_agent(agents):
    agent = new_agent(agents)
    saved = agents.save(agent.id, name="Renamed", tools=[{"type": "workflow", "name": "w",
                                                          "workflow_id": "x"}])
    assert saved is not None and (saved.name, saved.version) == ("Renamed", 2)
    assert saved.tools[0]["name"] == "w"
    assert agents.set_deleted(agent.id) is not None
    assert agents.get(agent.id) is None and agents.get(agent.id, include_deleted=True)
    assert agents.save(agent.id, name="x") is None and agents.set_deleted(agent.id) is None


def test_a_workspace_lists_its_live_agents_newest_change_first(agents):
    first, second, gone = new_agent(agents, "a"), new_agent(agents, "b"), new_agent(agents, "c")
    agents.save(first.id, name="a2")
    agents.set_deleted(gone.id)
    page = agents.list(WS, PageRequest(1, 10))
    assert [agent.name for agent in page.items] == ["a2", "b"] and page.total == 2
    assert agents.list("ffffffffffffffffffffffff", PageRequest(1, 10)).total == 0
    assert second.id in {agent.id for agent in page.items}
