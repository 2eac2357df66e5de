"""`template`: sandboxed Jinja2 over the inputs and earlier outputs."""
from __future__ import annotations

from typing import Any, Self

from use_cases.workflows.nodes.base import (
    NodeContext,
    NodeError,
    NodeRole,
    NodeServices,
    NodeType,
    strict_schema,
)
from use_cases.workflows.ports import JsonQuery, TemplateRenderer
from use_cases.workflows.secret_stripping import SecretStripper


class TemplateNode(NodeType):
    type = "template"
    title = "Template"
    description = "Sandboxed Jinja2 over the inputs and earlier outputs."
    output = "the rendered text"
    config_schema = strict_schema({"template": {"type": "string", "maxLength": 100_000}},
                                  ("template",))
    role = NodeRole.STEP
    renders_itself = ("template",)  # rendered once, here, with every variable in reach
    literal_keys = ()

    def __init__(self, renderer: TemplateRenderer):
        self.renderer = renderer

    @classmethod
    def build(cls, services: NodeServices) -> Self:
        return cls(services.renderer)

    @classmethod
    def config_problems(cls, config: dict[str, Any], paths: JsonQuery) -> list[str]:
        return []

    @classmethod
    def publish(cls, config: dict[str, Any], secrets: SecretStripper) -> dict[str, Any]:
        return config  # nothing beyond the scrub of every string

    def run(self, ctx: NodeContext) -> str:
        try:
            return self.renderer.render(ctx.config["template"], ctx.variables,
                                        ctx.execution.workspace_id, ctx.deadline)
        except ValueError as error:
            raise NodeError(str(error)) from None
