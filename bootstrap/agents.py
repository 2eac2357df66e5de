"""Agents: their CRUD, the tool kinds (one registry, listed here), the runtime that runs an
agent's tools and loop, and the bridges to the areas an agent works with (a workflow as a tool;
the agents area imports neither chat nor workflows, so the bridges live here)."""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from entities.actor import Actor
from entities.agent import AgentSetup
from entities.deadline import Deadline
from entities.errors import NotFound, UpstreamError
from entities.workflow import ExecutionStatus
from use_cases.agents.agents import Agents
from use_cases.agents.http_tool import HttpTool
from use_cases.agents.ports import AgentRepository, WorkflowSummary, WorkflowTools
from use_cases.agents.runtime import AgentRuntime
from use_cases.agents.tools import ToolKind, ToolKinds
from use_cases.agents.workflow_tool import WorkflowTool
from use_cases.chat.ports import TalkAgents
from use_cases.files.access import FileAccess
from use_cases.gateway.llm_chat import LLMChat
from use_cases.gateway.ports import LLMGateway, ProviderCredentials
from use_cases.shared.ports import Encryptor, OutboundHttp
from use_cases.workflows.executions import Executions
from use_cases.workflows.ports import WorkflowAgents
from use_cases.workflows.workflows import Workflows
from use_cases.workspaces.access import WorkspaceAccess


@dataclass(frozen=True)
class AgentLimits:
    tool_timeout_s: float  # one tool run at most
    http_max_bytes: int  # an http tool's response is cut here


@dataclass(frozen=True)
class AgentUseCases:
    agents: Agents
    agent_runtime: AgentRuntime
    talk_agents: TalkAgents  # chat's port


class WorkflowsAsTools(WorkflowTools):
    """A workspace's workflows as agent tools: described by their `input` node, run as the
    caller (member rights, every engine and sandbox limit) and waited for."""

    def __init__(self, workflows: Workflows, executions: Executions):
        self.workflows = workflows
        self.executions = executions

    def describe(self, actor: Actor, workflow_id: str) -> WorkflowSummary:
        workflow = self.workflows.get(actor, workflow_id)
        fields: list[dict[str, Any]] = []
        for node in workflow.nodes:
            if node.type == "input":
                fields = list(node.config.get("fields") or [])
        return WorkflowSummary(workflow.workspace_id, workflow.name, workflow.description, fields)

    def run(self, actor: Actor, workflow_id: str, inputs: dict[str, Any],
            deadline: Deadline) -> dict[str, Any]:
        execution = self.executions.execute(actor, workflow_id, inputs, wait=True,
                                            until=deadline)
        if execution.status is ExecutionStatus.SUCCEEDED:
            return execution.outputs or {}
        if not execution.status.finished:
            self.executions.cancel(actor, execution.id)
            if deadline.cancelled():
                raise UpstreamError("The workflow was cancelled: the reply was stopped")
            raise UpstreamError("The workflow did not finish in time")
        raise UpstreamError(f"The workflow {execution.status.value}: "
                            f"{execution.error or 'no reason given'}")


class AgentsForTalks(TalkAgents):
    """Chat's view of agents: a talk's agent must be one of its workspace the user can read."""

    def __init__(self, runtime: AgentRuntime):
        self.runtime = runtime

    def check(self, user_id: str, workspace_id: str, agent_id: str) -> None:
        agent, _ = self.runtime.agents.require(user_id, agent_id)
        if agent.workspace_id != workspace_id:
            raise NotFound("Agent not found")

    def for_reply(self, user_id: str, workspace_id: str, agent_id: str, talk_id: str,
                  cancelled: Callable[[], bool], file_ids: tuple[str, ...] = ()) -> AgentSetup:
        agent, toolbox = self.runtime.for_reply(Actor(user_id), agent_id, workspace_id,
                                                talk_id=talk_id, file_ids=file_ids,
                                                cancelled=cancelled)
        return AgentSetup(agent, toolbox)


class AgentsForWorkflows(WorkflowAgents):
    """The workflows area's view of agents (`agent` nodes). Built before the agents area (which
    needs the workflows for its tools) and bound to its runtime by build_agents."""

    def __init__(self) -> None:
        self.runtime: AgentRuntime | None = None

    def answer(self, user_id: str, workspace_id: str, agent_id: str, prompt: str,
               cancelled: Callable[[], bool]) -> str:
        if self.runtime is None:
            raise RuntimeError("agents are not built yet")
        actor = Actor(user_id)
        agent, toolbox = self.runtime.for_reply(actor, agent_id, workspace_id,
                                                cancelled=cancelled, in_workflow=True)
        request = self.runtime.request_for(agent, toolbox,
                                           [{"role": "user", "content": prompt}])
        answer = self.runtime.answer(actor, agent, toolbox, request, source="workflow",
                                     cancelled=cancelled)
        return answer.result.content


def build_agents(*, agent_repo: AgentRepository, access: WorkspaceAccess, files: FileAccess,
                 gateway: LLMGateway, credentials: ProviderCredentials, llm: LLMChat,
                 key_llm: LLMChat,
                 workflows: Workflows, executions: Executions, outbound: OutboundHttp,
                 encryptor: Encryptor, workflow_agents: AgentsForWorkflows, limits: AgentLimits,
                 extra_kinds: tuple[ToolKind, ...] = ()) -> AgentUseCases:
    """`extra_kinds`: further tool kinds (mcp, file_search) built by the caller;
    `workflow_agents`: the bridge handed to build_workflows, bound here."""
    kinds = ToolKinds(
        WorkflowTool(WorkflowsAsTools(workflows, executions)),
        HttpTool(outbound, encryptor, max_bytes=limits.http_max_bytes),
        *extra_kinds,
    )
    agents = Agents(agent_repo, access, files, kinds, gateway, credentials)
    runtime = AgentRuntime(agents, kinds, llm, key_llm, tool_timeout_s=limits.tool_timeout_s)
    workflow_agents.runtime = runtime
    return AgentUseCases(agents=agents, agent_runtime=runtime,
                         talk_agents=AgentsForTalks(runtime))
