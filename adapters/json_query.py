"""JSONPath queries (jsonpath-ng, with its extensions: filters, arithmetic, len...), evaluated
in a ProcessSandbox worker.

The extensions' regular expressions (the `=~` filter, `sub(/pattern/, repl)`) run on RE2, a
linear-time engine (google-re2), instead of Python's backtracking `re`: `(a+)+$` over a long
string costs microseconds, not hours. RE2 refuses what it cannot do in linear time
(backreferences, lookaround) and that refusal is reported as an invalid path.
"""
from __future__ import annotations

from functools import lru_cache
from typing import Any

import re2
from jsonpath_ng.ext import filter as jsonpath_filter
from jsonpath_ng.ext import parse
from jsonpath_ng.ext import string as jsonpath_string

from adapters.sandbox import ProcessSandbox
from entities.deadline import Deadline
from use_cases.workflows.ports import JsonQuery

MAX_PATH_CHARS = 1000  # the json_extract node's config schema says the same
_RE2_OPTIONS = re2.Options()
_RE2_OPTIONS.log_errors = False  # a refused pattern is the user's error, reported to them


class LinearRegex:
    """The part of the `re` module jsonpath-ng's extensions use, on RE2."""

    error = re2.error

    @staticmethod
    @lru_cache(maxsize=256)
    def compile(pattern: str, flags: int = 0) -> Any:
        if flags:
            raise ValueError("regular expression flags are not supported")
        try:
            return re2.compile(pattern, options=_RE2_OPTIONS)
        except re2.error as error:
            reason = error.args[0].decode() if error.args and isinstance(error.args[0], bytes) \
                else str(error)
            raise ValueError(f"regular expression {pattern!r} is not supported by RE2 "
                             f"(no backreferences or lookaround): {reason}") from None

    @classmethod
    def search(cls, pattern: str, string: str) -> Any:
        return cls.compile(pattern).search(string)


# jsonpath-ng looks `re` up in these modules when it compiles or applies a user's pattern
jsonpath_filter.re = LinearRegex  # type: ignore[assignment]
jsonpath_string.re = LinearRegex  # type: ignore[assignment]


def _checked(path: str):
    """The parsed path; ValueError for a malformed one or one over MAX_PATH_CHARS (a path made
    by an expression at run time is not bounded by the config's schema, and parsing is costly:
    ~4 s of CPU for 600,000 characters)."""
    if len(path) > MAX_PATH_CHARS:
        raise ValueError(f"invalid JSONPath: over {MAX_PATH_CHARS} characters")
    return _compiled(path)


@lru_cache(maxsize=256)
def _compiled(path: str):
    try:
        return parse(path)
    except Exception as error:  # the lexer and the parser raise several unrelated types
        raise ValueError(f"invalid JSONPath: {error}") from None


def find_in_worker(data: object, path: str) -> list:
    """The sandbox task: every value `path` matches in `data`."""
    try:
        return [match.value for match in _checked(path).find(data)]
    except ValueError as error:
        raise ValueError(f"JSONPath failed: {error}") from None
    except RecursionError:
        raise ValueError("JSONPath failed: the data or the path is nested too deeply") from None


class JsonPathQuery(JsonQuery):
    """Queries in `sandbox`'s workers; paths are parsed here too (at most MAX_PATH_CHARS)."""

    def __init__(self, sandbox: ProcessSandbox):
        self.sandbox = sandbox

    def find(self, data: object, path: str, tenant: str, deadline: Deadline | None = None) -> list:
        _checked(path)  # a malformed path is refused without a round trip
        return self.sandbox.call(find_in_worker, data, path, tenant=tenant, deadline=deadline,
                                 what="the JSONPath query")

    def check(self, path: str) -> str | None:
        try:
            _checked(path)
        except ValueError as error:
            return str(error)
        return None
