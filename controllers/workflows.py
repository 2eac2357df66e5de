"""/api/v1/workflows, /api/v1/executions and /api/v1/templates."""
from __future__ import annotations

from flask import url_for

from controllers.blueprint import Blueprint
from controllers.deps import use_cases
from controllers.idempotency import idempotent
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
    """List a workspace's workflows

    Any member. Query `workspace_id` (default: the caller's personal workspace), `deleted` (true:
    the trash), `page`, `size`. 200 page of `{id, workspace_id, name, description, nodes, edges,
    version, is_active, created_by, created_at, updated_at, deleted_at}`, most recently changed
    first.

    404 for a workspace the caller is not in."""
    page = use_cases().workflows.list(current_actor(), query.get("workspace_id"),
                                      PageRequest(query["page"], query["size"]), query["deleted"])
    return page_body(page)


@blp.post("")
@authenticated
@blp.arguments(WorkspaceQuerySchema, location="query")
@blp.arguments(WorkflowCreateSchema)
@idempotent
@blp.response(201, WorkflowSchema)
def create_workflow(query, body):
    """Create a workflow

    Members and up. Body `{workspace_id?, name, description?, nodes: [{id, type, name?, config}],
    edges: [{source, target, condition?}], is_active?}`; the workspace may also be given as a query
    parameter (default: personal). 201 with the workflow, `version` 1.

    With an `Idempotency-Key` header (or `client_message_id` in the body), a repeat within 24 h
    creates nothing and gets the first answer; the same key with another body is 409
    `idempotency_conflict`.

    Validates the graph (unique node ids, edges between existing nodes, no cycles, each node's
    config against its schema, every `{{ reference }}` resolvable): 422 lists the problems per node
    (`details.nodes.<id>`), per edge (`details.edges.<index>`) and for the whole graph
    (`details.graph`). 403 for a viewer; 404 for a workspace the caller is not in."""
    changes = graph_changes(body)
    return use_cases().workflows.create(
        current_actor(), body.get("workspace_id") or query.get("workspace_id"), changes["name"],
        Graph(changes["nodes"], changes["edges"]), description=changes["description"],
        is_active=changes["is_active"])


@blp.get("/node-types")
@authenticated
@blp.response(200, NodeTypeSchema(many=True))
def node_types():
    """Catalogue of workflow node types

    Every node type with the JSON schema of its config (unknown keys are rejected). Every config
    also takes `timeout_s` and `retry: {max_attempts, backoff_s}`. 200 `[{type, title, description,
    output, config_schema}]`.

    401 without a valid access token."""
    return use_cases().workflows.node_types()


@blp.get("/<workflow_id>")
@authenticated
@blp.response(200, WorkflowSchema)
def get_workflow(workflow_id):
    """One workflow

    Any member of its workspace. 200 with the workflow and its graph.

    404 for an unknown or deleted workflow, or one in a workspace the caller is not in."""
    return use_cases().workflows.get(current_actor(), workflow_id)


@blp.put("/<workflow_id>")
@authenticated
@blp.arguments(WorkflowReplaceSchema)
@blp.response(200, WorkflowSchema)
@blp.alt_response(409, description="`version` is no longer the current one")
def replace_workflow(body, workflow_id):
    """Replace a workflow

    Members and up. Body `{name, description?, nodes, edges, is_active?, version?}`: the whole
    workflow. The graph is validated as on creation; saving bumps `version`. Give the `version` you
    read to refuse overwriting someone else's change. 200 with the workflow.

    403 for a viewer; 404 for a workflow the caller cannot see; 409 when `version` is no longer the
    current one; 422 for an invalid graph."""
    changes = graph_changes(body)
    version = changes.pop("version", None)
    return use_cases().workflows.update(current_actor(), workflow_id, changes, version)


@blp.patch("/<workflow_id>")
@authenticated
@blp.arguments(WorkflowPatchSchema)
@blp.response(200, WorkflowSchema)
@blp.alt_response(409, description="`version` is no longer the current one")
def patch_workflow(body, workflow_id):
    """Change part of a workflow

    Members and up. Body any of `{name, description, nodes, edges, is_active, version}`; a changed
    graph is validated as on creation; saving bumps `version`. 200 with the workflow.

    403 for a viewer; 404 for a workflow the caller cannot see; 409 when `version` is no longer the
    current one; 422 for an invalid graph."""
    changes = graph_changes(body)
    version = changes.pop("version", None)
    return use_cases().workflows.update(current_actor(), workflow_id, changes, version)


@blp.delete("/<workflow_id>")
@authenticated
@blp.response(204)
def delete_workflow(workflow_id):
    """Delete a workflow (soft)

    Soft delete (the creator or a workspace admin); `POST .../restore` brings it back. 204.

    403 for other members; 404 for a workflow the caller cannot see."""
    use_cases().workflows.delete(current_actor(), workflow_id)


@blp.post("/<workflow_id>/restore")
@authenticated
@blp.response(200, WorkflowSchema)
def restore_workflow(workflow_id):
    """Restore a deleted workflow

    The creator or a workspace admin. 200 with the workflow.

    403 for other members; 404 for a workflow the caller cannot see."""
    return use_cases().workflows.restore(current_actor(), workflow_id)


@blp.post("/<workflow_id>/execute")
@authenticated
@blp.arguments(ExecuteSchema)
@idempotent
@blp.response(202, ExecutionSchema, description="Queued")
@blp.alt_response(200, schema=ExecutionSchema, description="Finished (with `wait: true`)")
def execute_workflow(body, workflow_id):
    """Run a workflow

    Members run workflows (viewers get 403). Body `{inputs, wait?}`: `inputs` are checked against
    the `input` node's fields. 202 with the queued execution, or 200 with the finished execution
    when `wait: true` and it finishes in time (both with a `Location` header). Follow the run at
    `/api/v1/ws/executions/{id}` or poll `GET /api/v1/executions/{id}`. Each `llm` node counts as
    one model call against RATELIMIT_LLM.

    With an `Idempotency-Key` header (or `client_message_id` in the body), a repeat within 24 h
    creates nothing and gets the first answer; the same key with another body is 409
    `idempotency_conflict`.

    404 for a workflow the caller cannot see; 409 when the workflow is not active; 422 for inputs
    that do not match, or while the workflow (installed from a template) still holds `{{
    secret.<name> }}` placeholders (`details.secrets` lists them); 429 when the run's model calls
    do not fit the rate limit."""
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
    """Runs of a workflow

    Any member of its workspace. Query `page`, `size`. 200 page of executions, newest first.

    404 for a workflow the caller cannot see."""
    page = use_cases().executions.list(current_actor(), workflow_id,
                                       PageRequest(query["page"], query["size"]))
    return page_body(page)


@blp.post("/<workflow_id>/publish")
@authenticated
@blp.arguments(PublishSchema)
@idempotent
@blp.response(201, TemplateSchema)
def publish_workflow(body, workflow_id):
    """Publish a workflow as a template

    Shares the workflow on the marketplace without its secrets or workspace and file ids. Every
    string is read for what it is (header names and values, the URL's credentials, query and path,
    a body as JSON or a form, template and prompt text) and checked by a secret detector
    (detect-secrets) and credential-like names (`Authorization`, `X-Api-Key`,
    `Ocp-Apim-Subscription-Key`, anything with key, token, secret, password or auth); each secret
    becomes a named placeholder, `{{ secret.header_x_api_key }}`, that the installer replaces by
    their own value before the workflow runs. Members and up. Body
    `{title, description?, tags?}`. 201 `{id, title, description, tags, author, rating,
    ratings_count, installs, created_at, nodes, edges}`.

    With an `Idempotency-Key` header (or `client_message_id` in the body), a repeat within 24 h
    creates nothing and gets the first answer; the same key with another body is 409
    `idempotency_conflict`.

    403 for a viewer; 404 for a workflow the caller cannot see; 422 for invalid fields."""
    template = use_cases().templates.publish(current_actor(), workflow_id, body["title"],
                                             body["description"], body["tags"])
    return template_body(template)


# --- executions ---------------------------------------------------------------------------------

@executions_blp.get("/<execution_id>")
@authenticated
@executions_blp.response(200, ExecutionSchema)
def get_execution(execution_id):
    """One execution

    Any member of its workspace. 200 `{id, workflow_id, workflow_version, workspace_id, status:
    queued|running|succeeded|failed|cancelled, inputs, outputs, node_runs: [{node_id, status,
    started_at, finished_at, output, error, attempts}], error, created_by, created_at, started_at,
    finished_at, duration_ms}`.

    404 for an execution the caller cannot see."""
    return use_cases().executions.get(current_actor(), execution_id)


@executions_blp.post("/<execution_id>/cancel")
@authenticated
@executions_blp.response(200, ExecutionSchema)
def cancel_execution(execution_id):
    """Cancel an execution

    Members cancel runs. A queued run is cancelled at once; a running one stops at its next step
    (the answer waits up to a few seconds for that). Cancelling a finished run changes nothing. 200
    with the execution as it is then.

    403 for a viewer; 404 for an execution the caller cannot see."""
    return use_cases().executions.cancel(current_actor(), execution_id)


# --- templates ----------------------------------------------------------------------------------

@templates_blp.get("")
@authenticated
@templates_blp.arguments(TemplateQuerySchema, location="query")
@templates_blp.response(200, page_of(TemplateSummarySchema))
def search_templates(query):
    """Search the template marketplace

    Any signed-in user. Query `q` (title, description or tags), `tag`, `sort` (`recent` (default),
    `rating` or `installs`), `page`, `size`. 200 page of `{id, title, description, tags, author:
    {id, name}, rating, ratings_count, installs, created_at}`.

    422 for an unknown sort."""
    page = use_cases().templates.search(query.get("q"), query.get("tag"), query["sort"],
                                        PageRequest(query["page"], query["size"]))
    body = page_body(page)
    body["items"] = [template_body(template) for template in page.items]
    return body


@templates_blp.get("/<template_id>")
@authenticated
@templates_blp.response(200, TemplateSchema)
def get_template(template_id):
    """One template, with its graph

    Any signed-in user. 200 `{id, title, description, tags, author, rating, ratings_count, installs,
    created_at, nodes, edges}`.

    404 for an unknown template."""
    return template_body(use_cases().templates.get(template_id))


@templates_blp.post("/<template_id>/install")
@authenticated
@templates_blp.arguments(InstallSchema)
@idempotent
@templates_blp.response(201, WorkflowSchema)
def install_template(body, template_id):
    """Install a template as a new workflow

    A new workflow in the workspace (members and up), from the template's graph. Body
    `{workspace_id?}` (default: the caller's personal workspace). 201 with the workflow; it runs
    once each `{{ secret.<name> }}` placeholder in it is replaced by a value (PUT the workflow).

    With an `Idempotency-Key` header (or `client_message_id` in the body), a repeat within 24 h
    creates nothing and gets the first answer; the same key with another body is 409
    `idempotency_conflict`.

    403 for a viewer; 404 for an unknown template or a workspace the caller is not in."""
    return use_cases().templates.install(current_actor(), template_id, body.get("workspace_id"))


@templates_blp.post("/<template_id>/ratings")
@authenticated
@templates_blp.arguments(RatingSchema)
@templates_blp.response(200, TemplateSummarySchema)
def rate_template(body, template_id):
    """Rate a template

    One rating per user: rating again replaces your earlier rating. Body `{stars: 1..5, comment?}`.
    200 with the template's new `rating` (the average) and `ratings_count`.

    404 for an unknown template; 422 for stars outside 1 to 5."""
    template = use_cases().templates.rate(current_actor(), template_id, body["stars"],
                                          body["comment"])
    return template_body(template)
