"""The node types a workflow may use, each with the JSON schema of its config.

Every config also takes the run policy keys of COMMON_PROPERTIES. Unknown keys are rejected.
Strings may hold `{{ field }}` (an input field) and `{{ node_id.output }}` (an earlier node's
output); a string that is nothing but one such reference passes the value through unchanged
(a number stays a number, an object an object).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

IDENTIFIER = r"^[A-Za-z_][A-Za-z0-9_]{0,63}$"
MAX_ATTEMPTS = 10
MAX_BACKOFF_S = 300
MAX_TIMEOUT_S = 3600

COMMON_PROPERTIES: dict[str, Any] = {
    "timeout_s": {"type": "number", "exclusiveMinimum": 0, "maximum": MAX_TIMEOUT_S,
                  "description": "Seconds one attempt may take (default: the server's)."},
    "retry": {
        "type": "object",
        "additionalProperties": False,
        "properties": {
            "max_attempts": {"type": "integer", "minimum": 1, "maximum": MAX_ATTEMPTS},
            "backoff_s": {"type": "number", "minimum": 0, "maximum": MAX_BACKOFF_S,
                          "description": "Pause before the 2nd attempt; doubles each time."},
        },
    },
}

ANY_VALUE: dict[str, Any] = {"type": ["string", "number", "integer", "boolean", "object",
                                      "array", "null"]}
COMPARISONS = ["equals", "not_equals", "contains", "gt", "lt"]


@dataclass(frozen=True)
class NodeType:
    type: str
    title: str
    description: str
    output: str
    properties: dict[str, Any]
    required: tuple[str, ...] = ()
    extra: tuple[tuple[str, Any], ...] = ()  # further schema keywords (allOf...)

    @property
    def config_schema(self) -> dict[str, Any]:
        schema: dict[str, Any] = {
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "type": "object",
            "additionalProperties": False,
            "properties": {**self.properties, **COMMON_PROPERTIES},
            "required": list(self.required),
        }
        schema.update(dict(self.extra))
        return schema

    def describe(self) -> dict[str, Any]:
        return {"type": self.type, "title": self.title, "description": self.description,
                "output": self.output, "config_schema": self.config_schema}


NODE_TYPES: dict[str, NodeType] = {t.type: t for t in (
    NodeType(
        "input", "Input", "The execution's inputs, checked against the declared fields.",
        "the inputs object",
        {"fields": {"type": "array", "maxItems": 100, "items": {
            "type": "object", "additionalProperties": False, "required": ["name", "type"],
            "properties": {
                "name": {"type": "string", "pattern": IDENTIFIER},
                "type": {"enum": ["string", "number", "boolean", "object"]},
                "required": {"type": "boolean"},
                "description": {"type": "string", "maxLength": 500},
            }}}},
        ("fields",),
    ),
    NodeType(
        "llm", "LLM", "A model call through the gateway (workspace keys, budgets, usage).",
        "the reply text",
        {"model": {"type": "string", "minLength": 1, "maxLength": 200},
         "prompt": {"type": "string", "minLength": 1, "maxLength": 100_000},
         "system_prompt": {"type": "string", "maxLength": 100_000},
         "temperature": {"type": "number", "minimum": 0, "maximum": 2},
         "max_tokens": {"type": "integer", "minimum": 1, "maximum": 1_000_000}},
        ("model", "prompt"),
    ),
    NodeType(
        "template", "Template", "Sandboxed Jinja2 over the inputs and earlier outputs.",
        "the rendered text",
        {"template": {"type": "string", "maxLength": 100_000}},
        ("template",),
    ),
    NodeType(
        "condition", "Condition",
        "Compares a value; outgoing edges carry `condition: true` or `condition: false`.",
        "true or false",
        {"value": ANY_VALUE,
         "operator": {"enum": [*COMPARISONS, "empty", "not_empty"]},
         "compare_to": ANY_VALUE},
        ("value", "operator"),
        (("allOf", [{"if": {"properties": {"operator": {"enum": COMPARISONS}}},
                     "then": {"required": ["compare_to"]}}]),),
    ),
    NodeType(
        "http_request", "HTTP request",
        "Calls a public URL. Private, loopback, link-local and metadata addresses are refused "
        "(after DNS resolution, and on every redirect) unless allow-listed by the server.",
        "{status, headers, body} (body parsed when the response is JSON)",
        {"method": {"enum": ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD"]},
         "url": {"type": "string", "minLength": 1, "maxLength": 8000},
         "headers": {"type": "object", "maxProperties": 50,
                     "additionalProperties": {"type": "string", "maxLength": 8000}},
         "body": ANY_VALUE},
        ("method", "url"),
    ),
    NodeType(
        "json_extract", "JSON extract", "Picks a value out of JSON with a JSONPath expression.",
        "the value found (a list when several match, null when none)",
        {"source": ANY_VALUE,
         "path": {"type": "string", "minLength": 1, "maxLength": 1000}},
        ("source", "path"),
    ),
    NodeType(
        "file_text", "File text", "The text of a file of the workflow's workspace.",
        "the file's text",
        {"file_id": {"type": "string", "maxLength": 200}},
        ("file_id",),
    ),
    NodeType(
        "output", "Output",
        "The execution's outputs: `outputs` maps names to templates; without it, the outputs "
        "of the upstream nodes keyed by node id.",
        "the outputs object",
        {"outputs": {"type": "object", "maxProperties": 100,
                     "propertyNames": {"pattern": IDENTIFIER},
                     "additionalProperties": ANY_VALUE}},
    ),
)}


def catalogue() -> list[dict[str, Any]]:
    return [node_type.describe() for node_type in NODE_TYPES.values()]
