"""`{{ name }}` and `{{ node_id.output }}` in node configs.

A string that is exactly one reference (`"{{ fetch.output.body }}"`) passes the referenced value
through unchanged, so objects and numbers keep their type; any other string holding `{{`/`{%` is
rendered once by the sandboxed template engine (values substituted are never rendered again).
"""
from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from entities.deadline import Deadline
from use_cases.workflows.ports import TemplateRenderer
from use_cases.workflows.sizes import SizeBudget

_REFERENCE = re.compile(r"^\s*\{\{\s*([A-Za-z_]\w*(?:\.[A-Za-z_]\w*)*)\s*\}\}\s*$")


def is_expression(value: str) -> bool:
    return "{{" in value or "{%" in value


def strings_in(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from strings_in(item)
    elif isinstance(value, list):
        for item in value:
            yield from strings_in(item)


def _lookup(path: str, variables: dict[str, Any]) -> Any:
    first, *rest = path.split(".")
    value = variables.get(first)
    for part in rest:
        value = value.get(part) if isinstance(value, dict) else None
    return value


def resolve(value: Any, variables: dict[str, Any], renderer: TemplateRenderer, tenant: str,
            deadline: Deadline | None = None, budget: SizeBudget | None = None) -> Any:
    """`value` with every expression in it evaluated; ValueError for a broken template,
    LimitExceeded for one stopped by the renderer's limits or `deadline`, or when what the
    expressions give (as JSON) overspends `budget`: a config naming one large output many times
    is refused before anything expands it."""
    if isinstance(value, str):
        reference = _REFERENCE.match(value)
        if reference:
            found = _lookup(reference.group(1), variables)
        elif is_expression(value):
            found = renderer.render(value, variables, tenant, deadline)
        else:
            return value
        if budget is not None:
            budget.spend(found)
        return found
    if isinstance(value, dict):
        return {key: resolve(item, variables, renderer, tenant, deadline, budget)
                for key, item in value.items()}
    if isinstance(value, list):
        return [resolve(item, variables, renderer, tenant, deadline, budget) for item in value]
    return value
