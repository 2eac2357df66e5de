"""`agent`: an agent of the workflow's workspace answers `prompt` (its tools run as the run's
creator, every model round metered like any call); the output is its final answer."""
from __future__ import annotations

from typing import Any, Self

from use_cases.workflows.nodes.base import (
    NodeContext,
    NodeRole,
    NodeServices,
    NodeType,
    as_text,
    strict_schema,
)
from use_cases.workflows.ports import JsonQuery, WorkflowAgents
from use_cases.workflows.secret_stripping import SecretStripper


class AgentNode(NodeType):
    type = "agent"
    title = "Agent"
    description = ("An agent of the workspace answers the prompt, calling its tools (workflows, "
                   "HTTP, files, MCP) as the run's creator.")
    output = "the agent's final answer (text)"
    config_schema = strict_schema(
        {"agent_id": {"type": "string", "minLength": 1, "maxLength": 64},
         "prompt": {"type": "string", "minLength": 1, "maxLength": 100_000}},
        ("agent_id", "prompt"))
    role = NodeRole.STEP
    renders_itself = ()
    literal_keys = ("agent_id",)

    def __init__(self, agents: WorkflowAgents):
        self.agents = agents

    @classmethod
    def build(cls, services: NodeServices) -> Self:
        return cls(services.agents)

    @classmethod
    def config_problems(cls, config: dict[str, Any], paths: JsonQuery) -> list[str]:
        return []  # the agent is looked up when the node runs (it may be created later)

    @classmethod
    def publish(cls, config: dict[str, Any], secrets: SecretStripper) -> dict[str, Any]:
        return config  # the agent id is the author's: template_sanitizer scrubs ids

    def run(self, ctx: NodeContext) -> str:
        return self.agents.answer(ctx.execution.created_by, ctx.execution.workspace_id,
                                  as_text(ctx.config["agent_id"]), as_text(ctx.config["prompt"]),
                                  ctx.deadline.cancelled)
