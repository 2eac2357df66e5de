"""`json_extract`: picks a value out of JSON with a JSONPath expression."""
from __future__ import annotations

import contextlib
import json
from typing import Any, Self

from use_cases.workflows.expressions import is_expression
from use_cases.workflows.nodes.base import (
    ANY_VALUE,
    NodeContext,
    NodeError,
    NodeRole,
    NodeServices,
    NodeType,
    as_text,
    strict_schema,
)
from use_cases.workflows.ports import JsonQuery
from use_cases.workflows.secret_stripping import SecretStripper


class JsonExtractNode(NodeType):
    type = "json_extract"
    title = "JSON extract"
    description = "Picks a value out of JSON with a JSONPath expression."
    output = "the value found (a list when several match, null when none)"
    config_schema = strict_schema(
        {"source": ANY_VALUE,
         "path": {"type": "string", "minLength": 1, "maxLength": 1000}},
        ("source", "path"))
    role = NodeRole.STEP
    renders_itself = ()
    literal_keys = ()

    def __init__(self, json_query: JsonQuery):
        self.json_query = json_query

    @classmethod
    def build(cls, services: NodeServices) -> Self:
        return cls(services.json_query)

    @classmethod
    def config_problems(cls, config: dict[str, Any], paths: JsonQuery) -> list[str]:
        """A path written out must parse; one that is an expression is known only at run time."""
        path = config.get("path")
        if not isinstance(path, str) or is_expression(path):
            return []
        error = paths.check(path)
        return [f"config.path: {error}"] if error else []

    @classmethod
    def publish(cls, config: dict[str, Any], secrets: SecretStripper) -> dict[str, Any]:
        return config  # nothing beyond the scrub of every string

    def run(self, ctx: NodeContext) -> Any:
        source = ctx.config.get("source")
        if isinstance(source, str):
            with contextlib.suppress(ValueError, RecursionError):
                source = json.loads(source)
        try:
            found = self.json_query.find(source, as_text(ctx.config["path"]),
                                         ctx.execution.workspace_id, ctx.deadline)
        except ValueError as error:
            raise NodeError(str(error)) from None
        if not found:
            return None
        return found[0] if len(found) == 1 else found
