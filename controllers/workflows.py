"""/api/v1/workflows, /api/v1/executions and /api/v1/templates."""
from __future__ import annotations

from flask import url_for
from flask_smorest import Blueprint

from controllers.deps import use_cases
from controllers.rate_limits import charge_model_calls
from controllers.schemas.common import PageQuerySchema, page_body, page_of
from controllers.schemas.workflows import (
    ExecuteSchema,
    ExecutionSchema,
    InstallSchema,
    NodeTypeSchema,
    PublishSchema,
    RatingSchema,
    TemplateQuerySchema,
    TemplateSchema,
    TemplateSummarySchema,
    WorkflowCreateSchema,
    WorkflowListQuerySchema,
    WorkflowPatchSchema,
    WorkflowReplaceSchema,
    WorkflowSchema,
    WorkspaceQuerySchema,
)
from controllers.security import authenticated, current_actor
from entities.pagination import PageRequest
from entities.workflow import Edge, Graph, Node, Template

blp = Blueprint("workflows", __name__, url_prefix="/api/v1/workflows",
                description="Workflows: validated graphs of nodes, and their runs")
executions_blp = Blueprint("executions", __name__, url_prefix="/api/v1/executions",
                           description="Runs of workflows")
templates_blp = Blueprint("templates", __name__, url_prefix="/api/v1/templates",
                          description="The workflow template marketplace")


def graph_changes(body: dict) -> dict:
    """Request nodes and edges as entities; other keys unchanged."""
    changes = dict(body)
    if "nodes" in changes:
        changes["nodes"] = [Node(**node) for node in changes["nodes"]]
    if "edges" in changes:
        changes["edges"] = [Edge(**edge) for edge in changes["edges"]]
    return changes


def template_body(template: Template) -> dict:
    return {"id": template.id, "title": template.title, "description": template.description,
            "tags": template.tags, "author": {"id": template.author_id,
                                              "name": template.author_name},
            "rating": template.rating, "ratings_count": template.ratings_count,
            "installs": template.installs, "created_at": template.created_at,
            "nodes": template.graph.nodes, "edges": template.graph.edges}


# --- workflows ----------------------------------------------------------------------------------

@blp.get("")
@authenticated
@blp.arguments(WorkflowListQuerySchema, location="query")
@blp.response(200, page_of(WorkflowSchema))
def list_workflows(query):
    page = use_cases().workflows.list(current_actor(), query.get("workspace_id"),
                                      PageRequest(query["page"], query["size"]), query["deleted"])
    return page_body(page)


@blp.post("")
@authenticated
@blp.arguments(WorkspaceQuerySchema, location="query")
@blp.arguments(WorkflowCreateSchema)
@blp.response(201, WorkflowSchema)
def create_workflow(query, body):
    """Validates the graph (unique node ids, edges between existing nodes, no cycles, each
    node's config against its schema, every `{{ reference }}` resolvable): 422 lists the
    problems per node (`details.nodes.<id>`), per edge (`details.edges.<index>`) and for the
    whole graph (`details.graph`)."""
    changes = graph_changes(body)
    return use_cases().workflows.create(
        current_actor(), body.get("workspace_id") or query.get("workspace_id"), changes["name"],
        Graph(changes["nodes"], changes["edges"]), description=changes["description"],
        is_active=changes["is_active"])


@blp.get("/node-types")
@authenticated
@blp.response(200, NodeTypeSchema(many=True))
def node_types():
    """Every node type with the JSON schema of its config (unknown keys are rejected). Every
    config also takes `timeout_s` and `retry: {max_attempts, backoff_s}`."""
    return use_cases().workflows.node_types()


@blp.get("/<workflow_id>")
@authenticated
@blp.response(200, WorkflowSchema)
def get_workflow(workflow_id):
    return use_cases().workflows.get(current_actor(), workflow_id)


@blp.put("/<workflow_id>")
@authenticated
@blp.arguments(WorkflowReplaceSchema)
@blp.response(200, WorkflowSchema)
@blp.alt_response(409, description="`version` is no longer the current one")
def replace_workflow(body, workflow_id):
    changes = graph_changes(body)
    version = changes.pop("version", None)
    return use_cases().workflows.update(current_actor(), workflow_id, changes, version)


@blp.patch("/<workflow_id>")
@authenticated
@blp.arguments(WorkflowPatchSchema)
@blp.response(200, WorkflowSchema)
@blp.alt_response(409, description="`version` is no longer the current one")
def patch_workflow(body, workflow_id):
    changes = graph_changes(body)
    version = changes.pop("version", None)
    return use_cases().workflows.update(current_actor(), workflow_id, changes, version)


@blp.delete("/<workflow_id>")
@authenticated
@blp.response(204)
def delete_workflow(workflow_id):
    """Soft delete (the creator or a workspace admin); `POST .../restore` brings it back."""
    use_cases().workflows.delete(current_actor(), workflow_id)


@blp.post("/<workflow_id>/restore")
@authenticated
@blp.response(200, WorkflowSchema)
def restore_workflow(workflow_id):
    return use_cases().workflows.restore(current_actor(), workflow_id)


@blp.post("/<workflow_id>/execute")
@authenticated
@blp.arguments(ExecuteSchema)
@blp.response(202, ExecutionSchema, description="Queued")
@blp.alt_response(200, schema=ExecutionSchema, description="Finished (with `wait: true`)")
def execute_workflow(body, workflow_id):
    """Members run workflows (viewers get 403). Follow the run at
    `/api/v1/ws/executions/{id}` or poll `GET /api/v1/executions/{id}`. Each `llm` node counts
    as one model call against RATELIMIT_LLM (429 when the run does not fit)."""
    actor = current_actor()
    workflow = use_cases().workflows.get(actor, workflow_id)
    charge_model_calls(f"user:{actor.user_id}", sum(node.type == "llm" for node in workflow.nodes))
    execution = use_cases().executions.execute(actor, workflow_id, body["inputs"],
                                               wait=body["wait"])
    status = 200 if execution.status.finished else 202
    location = url_for("executions.get_execution", execution_id=execution.id)
    return execution, status, {"Location": location}


@blp.get("/<workflow_id>/executions")
@authenticated
@blp.arguments(PageQuerySchema, location="query")
@blp.response(200, page_of(ExecutionSchema))
def list_executions(query, workflow_id):
    page = use_cases().executions.list(current_actor(), workflow_id,
                                       PageRequest(query["page"], query["size"]))
    return page_body(page)


@blp.post("/<workflow_id>/publish")
@authenticated
@blp.arguments(PublishSchema)
@blp.response(201, TemplateSchema)
def publish_workflow(body, workflow_id):
    """Shares the workflow on the marketplace, without secrets (credential-like headers, query
    parameters and body keys, API-key-like strings) or workspace and file ids."""
    template = use_cases().templates.publish(current_actor(), workflow_id, body["title"],
                                             body["description"], body["tags"])
    return template_body(template)


# --- executions ---------------------------------------------------------------------------------

@executions_blp.get("/<execution_id>")
@authenticated
@executions_blp.response(200, ExecutionSchema)
def get_execution(execution_id):
    return use_cases().executions.get(current_actor(), execution_id)


@executions_blp.post("/<execution_id>/cancel")
@authenticated
@executions_blp.response(200, ExecutionSchema)
def cancel_execution(execution_id):
    """Members cancel runs. A queued run is cancelled at once; a running one stops at its next
    step (the answer waits up to a few seconds for that). Cancelling a finished run changes
    nothing."""
    return use_cases().executions.cancel(current_actor(), execution_id)


# --- templates ----------------------------------------------------------------------------------

@templates_blp.get("")
@authenticated
@templates_blp.arguments(TemplateQuerySchema, location="query")
@templates_blp.response(200, page_of(TemplateSummarySchema))
def search_templates(query):
    page = use_cases().templates.search(query.get("q"), query.get("tag"), query["sort"],
                                        PageRequest(query["page"], query["size"]))
    body = page_body(page)
    body["items"] = [template_body(template) for template in page.items]
    return body


@templates_blp.get("/<template_id>")
@authenticated
@templates_blp.response(200, TemplateSchema)
def get_template(template_id):
    return template_body(use_cases().templates.get(template_id))


@templates_blp.post("/<template_id>/install")
@authenticated
@templates_blp.arguments(InstallSchema)
@templates_blp.response(201, WorkflowSchema)
def install_template(body, template_id):
    """A new workflow in the workspace (members and up), from the template's graph."""
    return use_cases().templates.install(current_actor(), template_id, body.get("workspace_id"))


@templates_blp.post("/<template_id>/ratings")
@authenticated
@templates_blp.arguments(RatingSchema)
@templates_blp.response(200, TemplateSummarySchema)
def rate_template(body, template_id):
    """One rating per user: rating again replaces your earlier rating."""
    template = use_cases().templates.rate(current_actor(), template_id, body["stars"],
                                          body["comment"])
    return template_body(template)
