"""JSONPath queries (jsonpath-ng, with its extensions: filters, arithmetic, len...)."""
from __future__ import annotations

from functools import lru_cache

from jsonpath_ng.ext import parse

from use_cases.workflows.ports import JsonQuery


@lru_cache(maxsize=256)
def _compiled(path: str):
    try:
        return parse(path)
    except Exception as error:  # the lexer and the parser raise several unrelated types
        raise ValueError(f"invalid JSONPath: {error}") from None


class JsonPathQuery(JsonQuery):
    def find(self, data: object, path: str) -> list:
        return [match.value for match in _compiled(path).find(data)]

    def check(self, path: str) -> str | None:
        try:
            _compiled(path)
        except ValueError as error:
            return str(error)
        return None
