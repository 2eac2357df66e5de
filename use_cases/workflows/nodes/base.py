"""What every node type declares, and what the engine hands it at run time.

A node type is one class in one module of this package, registered in registry.py. Its class
attributes and class methods are the declaration, readable without a server: `type` and the
catalogue texts, `config_schema`, `role` in the graph, `config_problems` (checks beyond the
schema) and `publish` (what a template shared with everyone keeps of the config). Its instance,
built once per server by `build` from the NodeServices it needs (constructor injection), `run`s
nodes. Every part is declared by each type: the methods are abstract and the registry refuses
an abstract class or one missing a class attribute, so no type can forget its publish rule.

A run gets a NodeContext and returns the node's output, or raises. NodeError says whether a
retry may help; DomainErrors from the ports are retryable when they come from the remote side
(provider or remote URL down, slow or rate limiting) and final otherwise (refused URL, budget
spent, file not found).
"""
from __future__ import annotations

import json
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import Enum
from typing import Any, ClassVar, Self

from entities.deadline import Deadline
from entities.errors import DomainError, LimitExceeded, RateLimited, UpstreamError
from entities.workflow import Execution, Node
from use_cases.gateway.llm_chat import LLMChat
from use_cases.shared.ports import OutboundHttp
from use_cases.workflows.ports import FileTexts, JsonQuery, TemplateRenderer, WorkflowAgents
from use_cases.workflows.secret_stripping import SecretStripper

# --- config schemas -----------------------------------------------------------------------------

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


def strict_schema(properties: dict[str, Any], required: tuple[str, ...] = (),
                  **keywords: Any) -> dict[str, Any]:
    """A strict JSON schema for a node's config: `properties`, plus the run policy keys of
    COMMON_PROPERTIES every node takes; unknown keys are rejected. `keywords`: further schema
    keywords (allOf...)."""
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "type": "object",
        "additionalProperties": False,
        "properties": {**properties, **COMMON_PROPERTIES},
        "required": list(required),
        **keywords,
    }


# --- running ------------------------------------------------------------------------------------

class NodeError(Exception):
    def __init__(self, message: str, retryable: bool = False, code: str | None = None):
        super().__init__(message)
        self.message = message
        self.retryable = retryable
        self.code = code


def is_retryable(error: BaseException) -> bool:
    """A limit that stopped sandboxed work (LimitExceeded) is final: the same input stops it
    again."""
    if isinstance(error, NodeError):
        return error.retryable
    return isinstance(error, UpstreamError | RateLimited | TimeoutError)


def describe(error: BaseException) -> str:
    if isinstance(error, NodeError | DomainError):
        return error.message
    return "internal error in the node"


def code_of(error: BaseException) -> str | None:
    """The node run's `error_code`: LimitExceeded's (timeout, cpu_limit, memory_limit,
    output_too_large) or a NodeError's own."""
    if isinstance(error, LimitExceeded | NodeError):
        return error.code
    return None


@dataclass
class NodeContext:
    execution: Execution
    node: Node
    config: dict[str, Any]  # resolved, except the keys the node type renders itself
    variables: dict[str, Any]  # input fields and {node_id: {"output": ...}} of finished nodes
    upstream: dict[str, Any]  # outputs of the nodes with an edge into this one (not skipped)
    timeout_s: float
    deadline: Deadline  # the attempt's end, and whether it was cancelled (run stopped, timed out)
    emit_delta: Callable[[str], None] = lambda text: None


@dataclass(frozen=True)
class NodeLimits:
    http_max_bytes: int = 1024 * 1024
    file_max_chars: int = 200_000


@dataclass
class NodeServices:
    """What the server offers node types; each type's `build` takes the parts it needs."""
    renderer: TemplateRenderer
    json_query: JsonQuery
    llm: LLMChat  # access, budget and usage as for any chat
    http: OutboundHttp
    files: FileTexts
    agents: WorkflowAgents  # `agent` nodes
    limits: NodeLimits = field(default_factory=NodeLimits)


def as_text(value: Any) -> str:
    """A config value where text is expected: None is empty, anything else not a string JSON."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    return json.dumps(value, default=str)


# --- the node type ------------------------------------------------------------------------------

class NodeRole(Enum):
    """The part a node type plays in the graph, which the validator and the engine enforce."""
    INPUT = "input"  # at most one per workflow, nothing leads into it; config.fields are the inputs
    STEP = "step"
    BRANCH = "branch"  # its edges out carry `condition: true|false`, taken by its output's truth
    OUTPUT = "output"  # leads nowhere, needs an edge in; its output joins the execution's outputs


class NodeType(ABC):
    type: ClassVar[str]
    title: ClassVar[str]
    description: ClassVar[str]
    output: ClassVar[str]  # what the node's output is, in words
    config_schema: ClassVar[dict[str, Any]]  # see strict_schema()
    role: ClassVar[NodeRole]
    renders_itself: ClassVar[tuple[str, ...]]  # config keys `run` gets as written (not resolved)
    literal_keys: ClassVar[tuple[str, ...]]  # config keys that are data, never expressions

    @classmethod
    def build(cls, services: NodeServices) -> Self:
        """The instance that runs nodes of this type; override to take services."""
        return cls()

    @classmethod
    def catalogue_entry(cls) -> dict[str, Any]:
        """The type's entry in the node-type catalogue (GET /api/v1/workflows/node-types)."""
        return {"type": cls.type, "title": cls.title, "description": cls.description,
                "output": cls.output, "config_schema": cls.config_schema}

    @classmethod
    @abstractmethod
    def config_problems(cls, config: dict[str, Any], paths: JsonQuery) -> list[str]:
        """What is wrong with a config beyond its JSON schema (checked when a workflow is saved,
        after the schema)."""

    @classmethod
    @abstractmethod
    def publish(cls, config: dict[str, Any], secrets: SecretStripper) -> dict[str, Any]:
        """The config as a published template keeps it (`config` is a copy, free to change):
        credentials become placeholders (`secrets`: how to read each kind of string, see
        secret_stripping) and references to the author's workspace go. Every string is then
        also read as text for secrets, and scrubbed of ids, by template_sanitizer, whatever the
        type."""

    @abstractmethod
    def run(self, ctx: NodeContext) -> Any:
        """The node's output for this run; raises NodeError (or a DomainError) on failure."""
