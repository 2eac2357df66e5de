"""`workflow` tools: a workflow of the agent's workspace, called with its `input` fields as the
function's parameters; the result is the execution's outputs. It runs as the talk's user, with
every limit of the workflow sandbox (the workflows area runs it).

An agent answering inside a workflow run (an `agent` node) is not offered workflow tools: a
workflow whose agent calls a workflow whose agent calls a workflow... would nest runs without end
(each waiting for the next), so runs nest at most once: talk or /v1 -> workflow -> agent."""
from __future__ import annotations

from typing import Any

from marshmallow import fields, validate

from entities.agent import ToolResult
from entities.errors import NotFound, ValidationFailed
from use_cases.agents.ports import WorkflowTools
from use_cases.agents.tools import (
    BaseToolSchema,
    ToolContext,
    ToolError,
    ToolFunction,
    ToolKind,
    ToolScope,
)

JSON_TYPES = {"string": "string", "number": "number", "boolean": "boolean", "object": "object"}


class WorkflowToolSchema(BaseToolSchema):
    type = fields.String(required=True, validate=validate.Equal("workflow"))
    workflow_id = fields.String(required=True, validate=validate.Length(min=1, max=64))


class WorkflowTool(ToolKind):
    type = "workflow"
    config_schema = WorkflowToolSchema

    def __init__(self, workflows: WorkflowTools):
        self.workflows = workflows

    def prepare(self, config: dict[str, Any], previous: dict[str, Any] | None,
                scope: ToolScope) -> dict[str, Any]:
        """The workflow must be one of the agent's workspace the saver can read."""
        try:
            summary = self.workflows.describe(scope.actor, config["workflow_id"])
        except NotFound:
            summary = None
        if summary is None or summary.workspace_id != scope.workspace_id:
            raise ValidationFailed("Unknown workflow",
                                   details={"workflow_id": ["No such workflow in this workspace."]})
        if not config.get("description"):
            config["description"] = summary.description or summary.name
        return config

    def functions(self, stored: dict[str, Any], ctx: ToolContext) -> list[ToolFunction]:
        """The workflow as one function; none for an agent inside a workflow run."""
        return [] if ctx.in_workflow else super().functions(stored, ctx)

    def parameters(self, stored: dict[str, Any], ctx: Any) -> dict[str, Any]:
        summary = self.workflows.describe(ctx.actor, stored["workflow_id"])
        return schema_of(summary.fields)

    def call(self, stored: dict[str, Any], function: str, arguments: dict[str, Any],
             ctx: ToolContext) -> ToolResult:
        if ctx.in_workflow:
            raise ToolError("an agent inside a workflow cannot run workflows")
        outputs = self.workflows.run(ctx.actor, stored["workflow_id"], arguments, ctx.deadline)
        return ToolResult.ok(outputs)


def schema_of(input_fields: list[dict[str, Any]]) -> dict[str, Any]:
    """A workflow's input fields as a JSON schema object."""
    properties: dict[str, Any] = {}
    required = []
    for field in input_fields:
        prop: dict[str, Any] = {"type": JSON_TYPES.get(field.get("type", "string"), "string")}
        if field.get("description"):
            prop["description"] = field["description"]
        properties[field["name"]] = prop
        if field.get("required"):
            required.append(field["name"])
    return {"type": "object", "properties": properties, "required": required}
