"""One input policy for every JSON body and WebSocket frame (API.md: 400 `bad_request`).

A document is refused when it is not UTF-8, nests deeper than MAX_DEPTH, holds an integer that
does not fit MongoDB's 64-bit integers, a number that is not finite (`1e999`, `NaN`), or a string
(value or key) with a lone surrogate (`"\\ud83d"`), which no store or encoder can take.
"""
from __future__ import annotations

import json
import math
import re
from typing import Any

MAX_DEPTH = 64
MAX_INTEGER_DIGITS = 20  # "-9223372036854775808": checked before any conversion
INT64_MIN, INT64_MAX = -(2 ** 63), 2 ** 63 - 1
_SURROGATE = re.compile("[\ud800-\udfff]")


class InputRejected(ValueError):
    """The body is JSON (or close to it) but outside the policy: a 400, never a 500."""


def _integer(text: str) -> int:
    if len(text) > MAX_INTEGER_DIGITS:
        raise InputRejected("Integer too large")
    value = int(text)
    if not INT64_MIN <= value <= INT64_MAX:
        raise InputRejected("Integer too large")
    return value


def _number(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise InputRejected("Number out of range")
    return value


def _constant(name: str) -> Any:
    raise InputRejected(f"{name} is not a JSON number")


def _check(document: Any) -> None:
    """Depth and strings, walked without recursion."""
    pending: list[tuple[Any, int]] = [(document, 0)]
    while pending:
        value, depth = pending.pop()
        if isinstance(value, str):
            if _SURROGATE.search(value):
                raise InputRejected("Strings must be valid Unicode (a lone surrogate was found)")
        elif isinstance(value, dict | list):
            if depth >= MAX_DEPTH:
                raise InputRejected(f"JSON nested deeper than {MAX_DEPTH} levels")
            if isinstance(value, dict):
                pending.extend((key, depth) for key in value)
                pending.extend((item, depth + 1) for item in value.values())
            else:
                pending.extend((item, depth + 1) for item in value)


def loads(data: str | bytes) -> Any:
    """json.loads under the policy: InputRejected for what it refuses, json.JSONDecodeError (a
    ValueError too) for text that is not JSON."""
    if isinstance(data, bytes | bytearray):
        try:
            data = bytes(data).decode("utf-8")
        except UnicodeDecodeError:
            raise InputRejected("Body is not valid UTF-8") from None
    try:
        document = json.loads(data, parse_int=_integer, parse_float=_number,
                              parse_constant=_constant)
    except RecursionError:
        raise InputRejected(f"JSON nested deeper than {MAX_DEPTH} levels") from None
    _check(document)
    return document
