"""Request and response schemas of agents (API.md "Agents and tools"). A tool item is checked by
its kind's own schema (use_cases/agents/<kind>_tool.py), not here."""
from __future__ import annotations

from marshmallow import Schema, fields, validate

from controllers.schemas.common import IdempotentBodySchema, PageQuerySchema, UtcDateTime
from entities.agent import MAX_TOOL_ROUNDS_LIMIT

NAME = validate.Length(min=1, max=200)
TOOLS = fields.List(fields.Dict(), validate=validate.Length(max=32), metadata={
    "description": "Items `{type, name, description?, ...}`: `workflow` {workflow_id}, `http` "
                   "{method, url, headers?, parameters}, `file_search` {}, `mcp` {url, "
                   "headers?, allowed_tools?}"})


class AgentListQuerySchema(PageQuerySchema):
    workspace_id = fields.String(metadata={"description": "Default: your personal workspace"})


class AgentFieldsSchema(Schema):
    description = fields.String(validate=validate.Length(max=5000))
    instructions = fields.String(validate=validate.Length(max=50_000))
    temperature = fields.Float(allow_none=True, validate=validate.Range(min=0, max=2))
    max_tokens = fields.Integer(allow_none=True, validate=validate.Range(min=1, max=1_000_000))
    tools = TOOLS
    file_ids = fields.List(fields.String(validate=validate.Length(min=1, max=64)),
                           validate=validate.Length(max=100))
    max_tool_rounds = fields.Integer(validate=validate.Range(min=1, max=MAX_TOOL_ROUNDS_LIMIT))


class AgentCreateSchema(AgentFieldsSchema, IdempotentBodySchema):
    workspace_id = fields.String(metadata={"description": "Or as a query parameter"})
    name = fields.String(required=True, validate=NAME)
    model = fields.String(required=True, validate=validate.Length(min=1, max=200))


class AgentPatchSchema(AgentFieldsSchema):
    name = fields.String(validate=NAME)
    model = fields.String(validate=validate.Length(min=1, max=200))


class AgentSchema(Schema):
    id = fields.String(required=True)
    workspace_id = fields.String(required=True)
    name = fields.String(required=True)
    description = fields.String(required=True)
    instructions = fields.String(required=True)
    model = fields.String(required=True)
    temperature = fields.Float(allow_none=True)
    max_tokens = fields.Integer(allow_none=True)
    tools = fields.List(fields.Dict(), required=True, metadata={
        "description": "As saved; secrets (mcp headers) left out, http header values masked"})
    file_ids = fields.List(fields.String(), required=True)
    max_tool_rounds = fields.Integer(required=True)
    created_by = fields.String(required=True)
    version = fields.Integer(required=True)
    created_at = UtcDateTime(required=True)
    updated_at = UtcDateTime(required=True)


class ToolTestSchema(Schema):
    tool = fields.String(required=True, validate=validate.Length(min=1, max=64),
                         metadata={"description": "The function name (a tool's `name`)"})
    arguments = fields.Dict(load_default=dict)


class ToolTestResultSchema(Schema):
    tool = fields.String(required=True)
    content = fields.String(required=True)
    error = fields.String(allow_none=True)
