"""Request and response schemas of workflows, executions and templates."""
from __future__ import annotations

from marshmallow import Schema, fields, validate

from controllers.schemas.common import IdempotentBodySchema, PageQuerySchema, UtcDateTime
from entities.workflow import ExecutionStatus, NodeStatus
from use_cases.workflows.nodes.registry import NODE_TYPES
from use_cases.workflows.templates import SORTS

NAME = validate.Length(min=1, max=200)
DESCRIPTION = validate.Length(max=5000)
MAX_GRAPH_ITEMS = 1000


class NodeSchema(Schema):
    id = fields.String(required=True, validate=validate.Length(min=1, max=64))
    type = fields.String(required=True, metadata={"enum": list(NODE_TYPES)})
    name = fields.String(load_default="", validate=validate.Length(max=200))
    config = fields.Dict(keys=fields.String(), load_default=dict, metadata={
        "description": "Checked against the type's config_schema (GET /workflows/node-types)"})


class EdgeSchema(Schema):
    source = fields.String(required=True, validate=validate.Length(min=1, max=64))
    target = fields.String(required=True, validate=validate.Length(min=1, max=64))
    condition = fields.Boolean(allow_none=True, load_default=None, metadata={
        "description": "Only on edges leaving a condition node: the branch this edge is"})


def _nodes(**kwargs) -> fields.List:
    return fields.List(fields.Nested(NodeSchema), validate=validate.Length(max=MAX_GRAPH_ITEMS),
                       **kwargs)


def _edges(**kwargs) -> fields.List:
    return fields.List(fields.Nested(EdgeSchema), validate=validate.Length(max=MAX_GRAPH_ITEMS),
                       **kwargs)


class WorkspaceQuerySchema(Schema):
    workspace_id = fields.String(metadata={"description": "Default: your personal workspace"})


class WorkflowListQuerySchema(PageQuerySchema):
    workspace_id = fields.String(metadata={"description": "Default: your personal workspace"})
    deleted = fields.Boolean(load_default=False, metadata={
        "description": "true: the deleted workflows (they can be restored)"})


class WorkflowCreateSchema(IdempotentBodySchema):
    workspace_id = fields.String(metadata={"description": "Or as a query parameter"})
    name = fields.String(required=True, validate=NAME)
    description = fields.String(load_default="", validate=DESCRIPTION)
    nodes = _nodes(required=True)
    edges = _edges(load_default=list)
    is_active = fields.Boolean(load_default=True)


class WorkflowReplaceSchema(Schema):
    name = fields.String(required=True, validate=NAME)
    description = fields.String(load_default="", validate=DESCRIPTION)
    nodes = _nodes(required=True)
    edges = _edges(load_default=list)
    is_active = fields.Boolean(load_default=True)
    version = fields.Integer(metadata={
        "description": "The version you edited: 409 if the workflow changed since"})


class WorkflowPatchSchema(Schema):
    name = fields.String(validate=NAME)
    description = fields.String(validate=DESCRIPTION)
    nodes = _nodes()
    edges = _edges()
    is_active = fields.Boolean()
    version = fields.Integer(metadata={
        "description": "The version you edited: 409 if the workflow changed since"})


class WorkflowSchema(Schema):
    id = fields.String(required=True)
    workspace_id = fields.String(required=True)
    name = fields.String(required=True)
    description = fields.String(required=True)
    nodes = fields.List(fields.Nested(NodeSchema), required=True)
    edges = fields.List(fields.Nested(EdgeSchema), required=True)
    version = fields.Integer(required=True)
    is_active = fields.Boolean(required=True)
    created_by = fields.String(required=True)
    created_at = UtcDateTime(required=True)
    updated_at = UtcDateTime(required=True)
    deleted_at = UtcDateTime(allow_none=True)


class NodeTypeSchema(Schema):
    type = fields.String(required=True)
    title = fields.String(required=True)
    description = fields.String(required=True)
    output = fields.String(required=True, metadata={"description": "What the node outputs"})
    config_schema = fields.Dict(required=True, metadata={"description": "JSON Schema 2020-12"})


class ExecuteSchema(IdempotentBodySchema):
    inputs = fields.Dict(keys=fields.String(), load_default=dict, metadata={
        "description": "Checked against the fields of the workflow's input node"})
    wait = fields.Boolean(load_default=False, metadata={
        "description": "Answer 200 with the finished execution (202 if it takes over ~30 s)"})


class NodeRunSchema(Schema):
    node_id = fields.String(required=True)
    status = fields.Enum(NodeStatus, by_value=True, required=True)
    started_at = UtcDateTime(allow_none=True)
    finished_at = UtcDateTime(allow_none=True)
    output = fields.Raw(allow_none=True)
    error = fields.String(allow_none=True)
    error_code = fields.String(allow_none=True, metadata={
        "description": "Why the node stopped, when a limit stopped it: timeout, cpu_limit, "
                       "memory_limit, output_too_large, or interrupted (its worker stopped)"})
    attempts = fields.Integer(required=True)


class ExecutionSchema(Schema):
    id = fields.String(required=True)
    workflow_id = fields.String(required=True)
    workflow_version = fields.Integer(required=True)
    workspace_id = fields.String(required=True)
    status = fields.Enum(ExecutionStatus, by_value=True, required=True)
    inputs = fields.Dict(required=True)
    outputs = fields.Dict(allow_none=True)
    node_runs = fields.List(fields.Nested(NodeRunSchema), required=True)
    error = fields.String(allow_none=True)
    created_by = fields.String(required=True)
    created_at = UtcDateTime(allow_none=True)
    started_at = UtcDateTime(allow_none=True)
    finished_at = UtcDateTime(allow_none=True)
    duration_ms = fields.Float(allow_none=True)


class PublishSchema(IdempotentBodySchema):
    title = fields.String(required=True, validate=NAME)
    description = fields.String(load_default="", validate=DESCRIPTION)
    tags = fields.List(fields.String(validate=validate.Length(min=1, max=50)), load_default=list,
                       validate=validate.Length(max=20))


class AuthorSchema(Schema):
    id = fields.String(required=True)
    name = fields.String(required=True)


class TemplateSummarySchema(Schema):
    id = fields.String(required=True)
    title = fields.String(required=True)
    description = fields.String(required=True)
    tags = fields.List(fields.String(), required=True)
    author = fields.Nested(AuthorSchema, required=True)
    rating = fields.Float(required=True, metadata={"description": "Average stars, 0 when unrated"})
    ratings_count = fields.Integer(required=True)
    installs = fields.Integer(required=True)
    created_at = UtcDateTime(required=True)


class TemplateSchema(TemplateSummarySchema):
    nodes = fields.List(fields.Nested(NodeSchema), required=True)
    edges = fields.List(fields.Nested(EdgeSchema), required=True)


class TemplateQuerySchema(PageQuerySchema):
    q = fields.String(validate=validate.Length(max=200), metadata={
        "description": "Matches the title, the description and the tags"})
    tag = fields.String(validate=validate.Length(max=50))
    sort = fields.String(load_default="recent",
                         validate=validate.OneOf(SORTS))


class InstallSchema(IdempotentBodySchema):
    workspace_id = fields.String(metadata={"description": "Default: your personal workspace"})


class RatingSchema(Schema):
    stars = fields.Integer(required=True, validate=validate.Range(min=1, max=5))
    comment = fields.String(allow_none=True, load_default=None,
                            validate=validate.Length(max=2000))
