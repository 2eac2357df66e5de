"""Templates in Jinja2's SandboxedEnvironment: no access to Python internals, no I/O.

Rendering streams through `generate()` so a template that would produce more than
`max_chars` stops early instead of filling memory; `range` is capped lower than Jinja's default.
"""
from __future__ import annotations

from functools import lru_cache

from jinja2 import TemplateError, meta
from jinja2.sandbox import SandboxedEnvironment, SecurityError

from use_cases.workflows.ports import TemplateRenderer

MAX_RANGE = 10_000


def _bounded_range(*args: int) -> range:
    result = range(*args)
    if len(result) > MAX_RANGE:
        raise SecurityError(f"range is limited to {MAX_RANGE} items")
    return result


class SandboxedTemplates(TemplateRenderer):
    def __init__(self, max_chars: int = 1_000_000, cache_size: int = 512):
        self.max_chars = max_chars
        self.env = SandboxedEnvironment(autoescape=False, keep_trailing_newline=True)
        self.env.globals["range"] = _bounded_range
        # compiled once per source: a workflow's templates are rendered on every run
        self._compiled = lru_cache(maxsize=cache_size)(self.env.from_string)

    def render(self, template: str, variables: dict) -> str:
        try:
            compiled = self._compiled(template)
            pieces, size = [], 0
            for piece in compiled.generate(variables):
                size += len(piece)
                if size > self.max_chars:
                    raise ValueError(f"template output is over {self.max_chars} characters")
                pieces.append(piece)
            return "".join(pieces)
        except SecurityError as error:
            raise ValueError(f"template refused by the sandbox: {error}") from None
        except TemplateError as error:
            raise ValueError(f"template error: {error}") from None
        except (TypeError, ArithmeticError, LookupError, AttributeError) as error:
            raise ValueError(f"template failed: {error}") from None

    def variables_of(self, template: str) -> set[str]:
        try:
            parsed = self.env.parse(template)
        except TemplateError as error:
            raise ValueError(f"template syntax error: {error}") from None
        return meta.find_undeclared_variables(parsed) - set(self.env.globals)
