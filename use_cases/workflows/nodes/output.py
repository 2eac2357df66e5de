"""`output`: the execution's outputs."""
from __future__ import annotations

from typing import Any

from use_cases.workflows.nodes.base import (
    ANY_VALUE,
    IDENTIFIER,
    NodeContext,
    NodeRole,
    NodeType,
    strict_schema,
)
from use_cases.workflows.ports import JsonQuery
from use_cases.workflows.secret_stripping import SecretStripper


class OutputNode(NodeType):
    type = "output"
    title = "Output"
    description = ("The execution's outputs: `outputs` maps names to templates; without it, the "
                   "outputs of the upstream nodes keyed by node id.")
    output = "the outputs object"
    config_schema = strict_schema(
        {"outputs": {"type": "object", "maxProperties": 100,
                     "propertyNames": {"pattern": IDENTIFIER},
                     "additionalProperties": ANY_VALUE}})
    role = NodeRole.OUTPUT
    renders_itself = ()
    literal_keys = ()

    @classmethod
    def config_problems(cls, config: dict[str, Any], paths: JsonQuery) -> list[str]:
        return []

    @classmethod
    def publish(cls, config: dict[str, Any], secrets: SecretStripper) -> dict[str, Any]:
        return config  # nothing beyond the scrub of every string

    def run(self, ctx: NodeContext) -> dict:
        if "outputs" in ctx.config:
            return dict(ctx.config["outputs"])
        return dict(ctx.upstream)
