"""`input`: the execution's inputs, checked against the fields the node declares."""
from __future__ import annotations

from typing import Any

from use_cases.workflows.nodes.base import IDENTIFIER, NodeContext, NodeRole, NodeType, strict_schema
from use_cases.workflows.ports import JsonQuery
from use_cases.workflows.secret_stripping import SecretStripper


class InputNode(NodeType):
    type = "input"
    title = "Input"
    description = "The execution's inputs, checked against the declared fields."
    output = "the inputs object"
    config_schema = strict_schema(
        {"fields": {"type": "array", "maxItems": 100, "items": {
            "type": "object", "additionalProperties": False, "required": ["name", "type"],
            "properties": {
                "name": {"type": "string", "pattern": IDENTIFIER},
                "type": {"enum": ["string", "number", "boolean", "object"]},
                "required": {"type": "boolean"},
                "description": {"type": "string", "maxLength": 500},
            }}}},
        ("fields",))
    role = NodeRole.INPUT
    renders_itself = ()
    literal_keys = ("fields",)  # declarations, not expressions

    @classmethod
    def config_problems(cls, config: dict[str, Any], paths: JsonQuery) -> list[str]:
        return []  # the validator checks the fields against the graph (names unique, not node ids)

    @classmethod
    def publish(cls, config: dict[str, Any], secrets: SecretStripper) -> dict[str, Any]:
        return config  # field declarations hold no credential

    def run(self, ctx: NodeContext) -> Any:
        return dict(ctx.execution.inputs)
