"""/api/v1/agents: saved assistants of a workspace (API.md "Agents and tools")."""
from __future__ import annotations

from dataclasses import replace

from controllers.blueprint import Blueprint
from controllers.deps import use_cases
from controllers.idempotency import idempotent
from controllers.schemas.agents import (
    AgentCreateSchema,
    AgentListQuerySchema,
    AgentPatchSchema,
    AgentSchema,
    ToolTestResultSchema,
    ToolTestSchema,
)
from controllers.schemas.common import page_body, page_of
from controllers.schemas.workflows import WorkspaceQuerySchema
from controllers.security import authenticated, current_actor
from entities.agent import Agent
from entities.pagination import PageRequest

blp = Blueprint("agents", __name__, url_prefix="/api/v1/agents",
                description="Agents: instructions, a model and tools, answering in talks, "
                            "workflows and /v1")


def shown(agent: Agent) -> Agent:
    """The agent as responses show it: each tool as its kind shows it (no secret)."""
    return replace(agent, tools=use_cases().agents.public_tools(agent))


@blp.get("")
@authenticated
@blp.arguments(AgentListQuerySchema, location="query")
@blp.response(200, page_of(AgentSchema))
def list_agents(query):
    """List a workspace's agents

    Any member. Query `workspace_id` (default: personal), `page`, `size`. 200 page of agents,
    most recently changed first. 404 for a workspace the caller is not in."""
    page = use_cases().agents.list(current_actor(), query.get("workspace_id"),
                                   PageRequest(query["page"], query["size"]))
    return page_body(replace(page, items=[shown(agent) for agent in page.items]))


@blp.post("")
@authenticated
@blp.arguments(WorkspaceQuerySchema, location="query")
@blp.arguments(AgentCreateSchema)
@idempotent
@blp.response(201, AgentSchema)
def create_agent(query, body):
    """Create an agent

    Members and up. Body `{workspace_id?, name, model, description?, instructions?,
    temperature?, max_tokens?, tools?, file_ids?, max_tool_rounds? (default 8, at most 32)}`.
    201 with the agent, `version` 1.

    422: an unknown model; a tool its kind refuses (`details.tools.<index>`), two tools with one
    name; tools for a model that cannot call functions (LiteLLM's `supports_function_calling`);
    `file_ids` the workspace cannot read. 403 for a viewer; 404 for a workspace the caller is
    not in."""
    fields = dict(body)
    fields.pop("client_message_id", None)
    workspace = fields.pop("workspace_id", None) or query.get("workspace_id")
    return shown(use_cases().agents.create(current_actor(), workspace, fields))


@blp.get("/<agent_id>")
@authenticated
@blp.response(200, AgentSchema)
def get_agent(agent_id):
    """One agent

    Any member of its workspace. 404 for a deleted agent or another workspace's."""
    return shown(use_cases().agents.get(current_actor(), agent_id))


@blp.patch("/<agent_id>")
@authenticated
@blp.arguments(AgentPatchSchema)
@blp.response(200, AgentSchema)
def patch_agent(body, agent_id):
    """Change an agent

    Its creator or a workspace admin. Body any of the create fields; `tools` and `file_ids`
    replace the lists (an http header sent back masked, or an mcp tool without `headers`, keeps
    its stored secret). Saving bumps `version`. 200 with the agent.

    403 for other members; 404 for an agent the caller cannot see; 422 as on creation."""
    return shown(use_cases().agents.update(current_actor(), agent_id, body))


@blp.delete("/<agent_id>")
@authenticated
@blp.response(204)
def delete_agent(agent_id):
    """Delete an agent (soft)

    Its creator or a workspace admin. 204; afterwards it is 404 everywhere (talks bound to it
    reply with an error). 403 for other members; 404 for an agent the caller cannot see."""
    use_cases().agents.delete(current_actor(), agent_id)


@blp.post("/<agent_id>/tools/test")
@authenticated
@blp.arguments(ToolTestSchema)
@blp.response(200, ToolTestResultSchema)
def test_tool(body, agent_id):
    """Run one tool as the agent would

    Workspace admins. Body `{tool, arguments}`: `tool` is a function name the agent offers the
    model. 200 `{tool, content, error}` (a failed run is a 200 with `error`, as the model would
    read it). 403 for non-admins; 404 for an agent the caller cannot see; 422 for an unknown
    tool."""
    result = use_cases().agent_runtime.test_tool(current_actor(), agent_id, body["tool"],
                                                 body["arguments"])
    return {"tool": body["tool"], "content": result.content, "error": result.error}
