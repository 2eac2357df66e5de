"""Fakes of the agents area's ports (use_cases/agents/ports.py)."""
from __future__ import annotations

import itertools
from dataclasses import replace

from entities.agent import Agent
from entities.clock import utcnow
from entities.pagination import Page, PageRequest
from use_cases.agents.ports import AgentRepository

_ids = itertools.count(1)


class FakeAgentRepository(AgentRepository):
    def __init__(self) -> None:
        self.agents: dict[str, Agent] = {}

    def add(self, agent):
        agent = replace(agent, id=f"{next(_ids):024x}")
        self.agents[agent.id] = agent
        return replace(agent)

    def get(self, agent_id, include_deleted=False):
        agent = self.agents.get(agent_id)
        if agent is None or (agent.deleted_at is not None and not include_deleted):
            return None
        return replace(agent)

    def list(self, workspace_id, page: PageRequest):
        items = sorted((a for a in self.agents.values()
                        if a.workspace_id == workspace_id and a.deleted_at is None),
                       key=lambda a: (a.updated_at, a.id), reverse=True)
        start = (page.page - 1) * page.size
        return Page(items[start:start + page.size], page.page, page.size, len(items))

    def save(self, agent_id, **changes):
        agent = self.get(agent_id)
        if agent is None:
            return None
        agent = replace(agent, **changes, version=agent.version + 1, updated_at=utcnow())
        self.agents[agent_id] = agent
        return replace(agent)

    def set_deleted(self, agent_id):
        agent = self.get(agent_id)
        if agent is None:
            return None
        agent = replace(agent, deleted_at=utcnow())
        self.agents[agent_id] = agent
        return replace(agent)
