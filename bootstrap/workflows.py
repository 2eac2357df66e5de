"""Workflows: definitions and their validation, the engine and the runner that executes runs,
executions and templates."""
from __future__ import annotations

from dataclasses import dataclass

from use_cases.gateway.llm_chat import LLMChat
from use_cases.identity.ports import UserRepository
from use_cases.metrics.metering import MeteredEvents
from use_cases.metrics.ports import Metrics
from use_cases.shared.ports import EventBus, OutboundHttp
from use_cases.workflows.engine import EngineLimits, WorkflowEngine
from use_cases.workflows.events import ExecutionEvents
from use_cases.workflows.executions import Executions
from use_cases.workflows.nodes.base import NodeLimits
from use_cases.workflows.nodes.registry import NodeHandlers
from use_cases.workflows.ports import (
    ExecutionRepository,
    FileTexts,
    JsonQuery,
    SchemaValidator,
    SecretDetector,
    TemplateRenderer,
    TemplateRepository,
    WorkflowAgents,
    WorkflowRepository,
)
from use_cases.workflows.runner import ExecutionRunner
from use_cases.workflows.templates import Templates
from use_cases.workflows.validation import WorkflowValidator
from use_cases.workflows.workflows import Workflows
from use_cases.workspaces.access import WorkspaceAccess


@dataclass(frozen=True)
class RunnerLimits:
    threads: int  # runs executed at once by this process (0: leave them to workers)
    lease_s: float  # a run's lease, extended every heartbeat_s while it runs
    heartbeat_s: float
    poll_s: float  # how often queued and abandoned runs are looked for
    max_claims: int  # a run whose worker died this many times is failed


@dataclass(frozen=True)
class WorkflowLimits:
    engine: EngineLimits
    nodes: NodeLimits
    runner: RunnerLimits
    wait_s: float  # how long `execute` with wait=true waits for the run to end


@dataclass(frozen=True)
class WorkflowUseCases:
    workflows: Workflows
    workflow_runner: ExecutionRunner  # threads start on first use: stop() hands runs back
    executions: Executions
    templates: Templates


def build_workflows(*, workflow_repo: WorkflowRepository, execution_repo: ExecutionRepository,
                    template_repo: TemplateRepository, users: UserRepository,
                    access: WorkspaceAccess, events: EventBus, metrics: Metrics, llm: LLMChat,
                    http: OutboundHttp, files: FileTexts, renderer: TemplateRenderer,
                    json_query: JsonQuery, schemas: SchemaValidator, secrets: SecretDetector,
                    agents: WorkflowAgents, limits: WorkflowLimits) -> WorkflowUseCases:
    """`agents`: what `agent` nodes call (bootstrap.agents.AgentsForWorkflows, bound once the
    agents area, which needs workflows for its tools, is built)."""
    workflows = Workflows(workflow_repo, access, WorkflowValidator(schemas, renderer, json_query))
    handlers = NodeHandlers(renderer, json_query, llm=llm, http=http, files=files,
                            agents=agents, limits=limits.nodes)
    engine = WorkflowEngine(handlers, renderer, limits.engine)
    execution_events = ExecutionEvents(MeteredEvents(events, metrics))
    runner = ExecutionRunner(
        execution_repo, engine, execution_events, events, threads=limits.runner.threads,
        lease_s=limits.runner.lease_s, heartbeat_s=limits.runner.heartbeat_s,
        poll_s=limits.runner.poll_s, max_claims=limits.runner.max_claims)
    return WorkflowUseCases(
        workflows=workflows,
        workflow_runner=runner,
        executions=Executions(workflows, execution_repo, access, runner, execution_events,
                              events, wait_s=limits.wait_s),
        templates=Templates(template_repo, workflows, users, secrets),
    )
