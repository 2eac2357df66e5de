"""Agents of a workspace: members read them, members create them, their creator or a workspace
admin changes and deletes them (API.md "Agents and tools"). Every save validates the tools (each
by its kind) and the knowledge files, and bumps `version`.

A model that cannot call functions cannot be given tools (422): what it can do comes from the
model catalogue (LiteLLM's `supports_function_calling`, or the catalogue entry's `model_info`).
"""
from __future__ import annotations

import builtins
from typing import Any

from entities.actor import Actor
from entities.agent import DEFAULT_MAX_TOOL_ROUNDS, Agent
from entities.clock import utcnow
from entities.errors import Forbidden, NotFound, ValidationFailed
from entities.pagination import Page, PageRequest
from entities.workspace import Membership, WorkspaceRole
from use_cases.agents.ports import AgentRepository
from use_cases.agents.tools import ToolKinds, ToolScope
from use_cases.files.access import FileAccess
from use_cases.gateway.ports import LLMGateway, ProviderCredentials
from use_cases.workspaces.access import WorkspaceAccess

MAX_TOOLS = 32
EDITABLE = ("name", "description", "instructions", "model", "temperature", "max_tokens",
            "max_tool_rounds")


class Agents:
    def __init__(self, agents: AgentRepository, access: WorkspaceAccess, files: FileAccess,
                 kinds: ToolKinds, gateway: LLMGateway, credentials: ProviderCredentials):
        self.agents = agents
        self.access = access
        self.files = files
        self.kinds = kinds
        self.gateway = gateway
        self.credentials = credentials

    # --- reading ------------------------------------------------------------------------------

    def require(self, user_id: str, agent_id: str,
                minimum: WorkspaceRole = WorkspaceRole.VIEWER) -> tuple[Agent, Membership]:
        """The agent and the caller's membership of its workspace; NotFound for an agent that
        is deleted or in a workspace the caller is not in (another tenant's agent)."""
        agent = self.agents.get(agent_id)
        if agent is None:
            raise NotFound("Agent not found")
        try:
            membership = self.access.require(user_id, agent.workspace_id, minimum)
        except NotFound:
            raise NotFound("Agent not found") from None
        return agent, membership

    def get(self, actor: Actor, agent_id: str) -> Agent:
        return self.require(actor.user_id, agent_id)[0]

    def list(self, actor: Actor, workspace_id: str | None, page: PageRequest) -> Page[Agent]:
        membership = self.access.require(actor.user_id, workspace_id, WorkspaceRole.VIEWER)
        return self.agents.list(membership.workspace_id, page)

    def public_tools(self, agent: Agent) -> builtins.list[dict[str, Any]]:
        """The agent's tools as responses show them (secrets left out by each kind)."""
        return [self.kinds[tool["type"]].public(tool) if tool.get("type") in self.kinds
                else dict(tool) for tool in agent.tools]

    # --- changing -----------------------------------------------------------------------------

    def create(self, actor: Actor, workspace_id: str | None, fields: dict[str, Any]) -> Agent:
        """`fields`: name, model, and any of description, instructions, temperature,
        max_tokens, tools, file_ids, max_tool_rounds. 201 agent, version 1. Forbidden for a
        viewer; ValidationFailed (422) for an unknown model, bad tools, files the workspace
        cannot read, or tools on a model without function calling."""
        membership = self.access.require(actor.user_id, workspace_id, WorkspaceRole.MEMBER)
        workspace = membership.workspace_id
        file_ids = self._files(actor, workspace, fields.get("file_ids") or [])
        tools = self._tools(actor, workspace, fields.get("tools") or [], [], file_ids)
        self._check_model(workspace, fields["model"], bool(tools))
        now = utcnow()
        return self.agents.add(Agent(
            id="", workspace_id=workspace, name=fields["name"], model=fields["model"],
            created_by=actor.user_id, description=fields.get("description") or "",
            instructions=fields.get("instructions") or "",
            temperature=fields.get("temperature"), max_tokens=fields.get("max_tokens"),
            tools=tools, file_ids=file_ids,
            max_tool_rounds=fields.get("max_tool_rounds") or DEFAULT_MAX_TOOL_ROUNDS,
            version=1, created_at=now, updated_at=now))

    def update(self, actor: Actor, agent_id: str, changes: dict[str, Any]) -> Agent:
        """PATCH: any of the create fields; `tools` and `file_ids` replace the lists. The
        creator or a workspace admin (Forbidden otherwise); bumps `version`."""
        agent = self._changeable(actor, agent_id)
        fields = {key: changes[key] for key in EDITABLE if key in changes}
        file_ids = agent.file_ids
        if "file_ids" in changes:
            file_ids = fields["file_ids"] = self._files(actor, agent.workspace_id,
                                                        changes["file_ids"] or [])
        tools = agent.tools
        if "tools" in changes or "file_ids" in changes:
            raw = changes["tools"] if "tools" in changes else [self.kinds[t["type"]].public(t)
                                                               for t in agent.tools]
            tools = fields["tools"] = self._tools(actor, agent.workspace_id, raw or [],
                                                  agent.tools, file_ids)
        self._check_model(agent.workspace_id, fields.get("model", agent.model), bool(tools))
        saved = self.agents.save(agent.id, **fields)
        if saved is None:
            raise NotFound("Agent not found")
        return saved

    def delete(self, actor: Actor, agent_id: str) -> None:
        agent = self._changeable(actor, agent_id)
        if self.agents.set_deleted(agent.id) is None:
            raise NotFound("Agent not found")

    # --- rules --------------------------------------------------------------------------------

    def _changeable(self, actor: Actor, agent_id: str) -> Agent:
        agent, membership = self.require(actor.user_id, agent_id, WorkspaceRole.MEMBER)
        if agent.created_by != actor.user_id and not membership.role.at_least(WorkspaceRole.ADMIN):
            raise Forbidden("Only the agent's creator or a workspace admin can change it")
        return agent

    def _files(self, actor: Actor, workspace_id: str, file_ids: builtins.list[str]) -> builtins.list[str]:
        """The ids, each a live file of the agent's workspace the saver can read."""
        file_ids = list(dict.fromkeys(file_ids))
        problems: dict[str, builtins.list[str]] = {}
        for file_id in file_ids:
            try:
                file = self.files.readable(actor.user_id, file_id)
            except NotFound:
                problems[file_id] = ["No such file in this workspace."]
                continue
            if file.workspace_id != workspace_id:
                problems[file_id] = ["No such file in this workspace."]
        if problems:
            raise ValidationFailed("Some knowledge files cannot be used",
                                   details={"file_ids": problems})
        return file_ids

    def _tools(self, actor: Actor, workspace_id: str, raw: builtins.list[Any],
               previous: builtins.list[dict[str, Any]],
               file_ids: builtins.list[str]) -> builtins.list[dict[str, Any]]:
        """Each item loaded and prepared by its kind (tools.py); names unique."""
        if not isinstance(raw, list) or len(raw) > MAX_TOOLS:
            raise ValidationFailed("Invalid tools",
                                   details={"tools": [f"A list of at most {MAX_TOOLS} tools."]})
        before = {tool.get("name"): tool for tool in previous}
        scope = ToolScope(actor=actor, workspace_id=workspace_id, file_ids=tuple(file_ids))
        stored: builtins.list[dict[str, Any]] = []
        problems: dict[str, Any] = {}
        for index, item in enumerate(raw):
            try:
                kind_name = item.get("type") if isinstance(item, dict) else None
                if not isinstance(kind_name, str):
                    raise ValidationFailed("A tool needs a type", details={"type": ["Required."]})
                kind = self.kinds[kind_name]
                config = kind.load(item)
                prior = before.get(config["name"])
                stored.append(kind.prepare(
                    config, prior if prior and prior.get("type") == kind_name else None, scope))
            except (ValidationFailed, NotFound) as error:
                problems[str(index)] = error.details or [error.message]
        names = [tool["name"] for tool in stored]
        duplicates = sorted({name for name in names if names.count(name) > 1})
        if duplicates:
            problems["names"] = [f"Tool names must be unique: {', '.join(duplicates)}."]
        if problems:
            raise ValidationFailed("Invalid tools", details={"tools": problems})
        return stored

    def _check_model(self, workspace_id: str, model: str, has_tools: bool) -> None:
        known = {info.id: info for info in
                 self.gateway.models(self.credentials.for_workspace(workspace_id))}
        info = known.get(model)
        if info is None:
            raise ValidationFailed(f"Unknown model '{model}'", details={"model": ["Unknown model."]})
        if has_tools and not info.supports_function_calling:
            raise ValidationFailed(
                f"The model '{model}' cannot call functions, so the agent cannot have tools",
                details={"tools": [f"{model} does not support function calling."]})
