"""`condition`: compares a value; the edges out of it carry `condition: true|false`."""
from __future__ import annotations

from typing import Any

from use_cases.workflows.nodes.base import (
    ANY_VALUE,
    NodeContext,
    NodeError,
    NodeRole,
    NodeType,
    as_text,
    strict_schema,
)
from use_cases.workflows.ports import JsonQuery
from use_cases.workflows.secret_stripping import SecretStripper

COMPARISONS = ["equals", "not_equals", "contains", "gt", "lt"]


class ConditionNode(NodeType):
    type = "condition"
    title = "Condition"
    description = "Compares a value; outgoing edges carry `condition: true` or `condition: false`."
    output = "true or false"
    config_schema = strict_schema(
        {"value": ANY_VALUE,
         "operator": {"enum": [*COMPARISONS, "empty", "not_empty"]},
         "compare_to": ANY_VALUE},
        ("value", "operator"),
        allOf=[{"if": {"properties": {"operator": {"enum": COMPARISONS}}},
                "then": {"required": ["compare_to"]}}])
    role = NodeRole.BRANCH
    renders_itself = ()
    literal_keys = ()

    @classmethod
    def config_problems(cls, config: dict[str, Any], paths: JsonQuery) -> list[str]:
        return []

    @classmethod
    def publish(cls, config: dict[str, Any], secrets: SecretStripper) -> dict[str, Any]:
        return config  # nothing beyond the scrub of every string

    def run(self, ctx: NodeContext) -> bool:
        return compare(ctx.config.get("value"), ctx.config["operator"], ctx.config.get("compare_to"))


def compare(value: Any, operator: str, compare_to: Any = None) -> bool:
    if operator == "empty":
        return _empty(value)
    if operator == "not_empty":
        return not _empty(value)
    if operator == "equals":
        return _equal(value, compare_to)
    if operator == "not_equals":
        return not _equal(value, compare_to)
    if operator == "contains":
        if isinstance(value, list):
            return any(_equal(item, compare_to) for item in value)
        if isinstance(value, dict):
            return as_text(compare_to) in value
        return value is not None and as_text(compare_to) in as_text(value)
    left, right = _number(value), _number(compare_to)
    if left is None or right is None:
        raise NodeError(f"{operator} compares numbers; got {as_text(value)[:50]!r} and "
                        f"{as_text(compare_to)[:50]!r}")
    return left > right if operator == "gt" else left < right


def _number(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value.strip())
        except ValueError:
            return None
    return None


def _boolean(value: Any) -> Any:
    if isinstance(value, str) and value.strip().lower() in ("true", "false"):
        return value.strip().lower() == "true"
    return value


def _equal(a: Any, b: Any) -> bool:
    na, nb = _number(a), _number(b)
    if na is not None and nb is not None:
        return na == nb
    if isinstance(a, bool) or isinstance(b, bool):
        return _boolean(a) == _boolean(b)
    if isinstance(a, dict | list) or isinstance(b, dict | list):
        return a == b
    return as_text(a) == as_text(b)


def _empty(value: Any) -> bool:
    if value is None:
        return True
    if isinstance(value, str):
        return not value.strip()
    if isinstance(value, dict | list):
        return not value
    return False
