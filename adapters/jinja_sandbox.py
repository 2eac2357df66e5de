"""Templates in Jinja2's SandboxedEnvironment, rendered in a ProcessSandbox worker.

The sandbox stops access to Python internals; this module bounds the rest where it is cheap to
do so, with a clear message: sequence repetition, concatenation and `%` formatting may not build
more than `max_chars` items, `**` is refused on numbers that would have more than MAX_INT_BITS
bits, `range` gives at most MAX_RANGE items and `lipsum` is gone. What is left (loops, filters)
is bounded by the worker's time, CPU and memory limits (adapters/sandbox.py). Rendering streams
through `generate()`, so an output over `max_chars` stops early.
"""
from __future__ import annotations

import math
import re
from functools import lru_cache
from typing import Any

from jinja2 import TemplateError, meta
from jinja2.sandbox import SandboxedEnvironment, SecurityError

from adapters.sandbox import ProcessSandbox
from entities.deadline import Deadline
from use_cases.workflows.ports import TemplateRenderer

MAX_RANGE = 10_000
MAX_INT_BITS = 100_000  # 2 ** 100_000 has ~30,000 digits
TOO_DEEP = "template error: expressions or data nested too deeply"
# the width and precision of a printf-style conversion: %-20.5s
_PRINTF_SIZES = re.compile(r"%[-#0 +]*(\d*|\*)(?:\.(\d*|\*))?")


def _bounded_range(*args: int) -> range:
    result = range(*args)
    if len(result) > MAX_RANGE:
        raise SecurityError(f"range is limited to {MAX_RANGE} items")
    return result


class BoundedEnvironment(SandboxedEnvironment):
    """SandboxedEnvironment whose operators cannot build values beyond `max_items`."""

    intercepted_binops = frozenset({"*", "**", "+", "%"})

    def __init__(self, max_items: int):
        super().__init__(autoescape=False, keep_trailing_newline=True)
        self.max_items = max_items
        self.globals["range"] = _bounded_range
        del self.globals["lipsum"]

    def call_binop(self, context: Any, op: str, left: Any, right: Any) -> Any:
        if op == "*":
            self._check_repetition(left, right)
        elif op == "+" and _is_sequence(left) and _is_sequence(right):
            self._check_size(len(left) + len(right))
        elif op == "**":
            _check_power(left, right)
        elif op == "%" and isinstance(left, str):
            self._check_printf(left)
        return self.binop_table[op](left, right)

    def _check_repetition(self, left: Any, right: Any) -> None:
        for sequence, times in ((left, right), (right, left)):
            if _is_sequence(sequence) and isinstance(times, int):
                self._check_size(len(sequence) * times)

    def _check_size(self, items: int) -> None:
        if items > self.max_items:
            raise SecurityError(f"a value of {items} items is over the limit of "
                                f"{self.max_items}")

    def _check_printf(self, text: str) -> None:
        for match in _PRINTF_SIZES.finditer(text):
            for size in match.groups():
                if size == "*" or (size and int(size) > self.max_items):
                    raise SecurityError(f"a %-format width or precision over {self.max_items}")


def _is_sequence(value: Any) -> bool:
    return isinstance(value, str | list | tuple)


def _check_power(base: Any, exponent: Any) -> None:
    integers = isinstance(base, int) and isinstance(exponent, int)
    if integers and exponent > 0 and abs(base) > 1 and exponent * math.log2(abs(base)) > MAX_INT_BITS:
        raise SecurityError(f"a power of more than {MAX_INT_BITS} bits")


class TemplateEngine:
    """Renders in the calling process: what a sandbox worker runs (see render_in_worker)."""

    def __init__(self, max_chars: int, cache_size: int = 512):
        self.max_chars = max_chars
        self.env = BoundedEnvironment(max_items=max_chars)
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
                if piece:  # a loop yields an empty piece per turn: keep none of them
                    pieces.append(piece)
            return "".join(pieces)
        except SecurityError as error:
            raise ValueError(f"template refused by the sandbox: {error}") from None
        except TemplateError as error:
            raise ValueError(f"template error: {error}") from None
        except (TypeError, ArithmeticError, LookupError, AttributeError) as error:
            raise ValueError(f"template failed: {error}") from None
        except ValueError as error:  # e.g. an int over Python's 4,300-digit str() limit
            raise ValueError(f"template failed: {error}") from None
        except RecursionError:
            raise ValueError(TOO_DEEP) from None

    def variables_of(self, template: str) -> set[str]:
        try:
            parsed = self.env.parse(template)
        except TemplateError as error:
            raise ValueError(f"template syntax error: {error}") from None
        except RecursionError:  # Jinja's parser recurses once per nested bracket
            raise ValueError(TOO_DEEP) from None
        return meta.find_undeclared_variables(parsed) - set(self.env.globals)


@lru_cache(maxsize=4)
def _engine(max_chars: int) -> TemplateEngine:
    return TemplateEngine(max_chars)


def render_in_worker(template: str, variables: dict, max_chars: int) -> str:
    """The sandbox task: one engine per worker process and output limit."""
    return _engine(max_chars).render(template, variables)


class SandboxedTemplates(TemplateRenderer):
    """Renders in `sandbox`'s workers; parses (variables_of) here, which is linear in the text."""

    def __init__(self, sandbox: ProcessSandbox, max_chars: int = 1_000_000):
        self.sandbox = sandbox
        self.max_chars = max_chars
        self._parser = TemplateEngine(max_chars)

    def render(self, template: str, variables: dict, tenant: str,
               deadline: Deadline | None = None) -> str:
        return self.sandbox.call(render_in_worker, template, variables, self.max_chars,
                                 tenant=tenant, deadline=deadline, what="the template")

    def variables_of(self, template: str) -> set[str]:
        return self._parser.variables_of(template)

