"""Tool kinds: what an agent's `tools[]` item of each `type` is, and how it runs.

A tool kind is one class in one module of this package (`workflow_tool.py`, `http_tool.py`,
`mcp_tool.py`, `file_search_tool.py`...), built once per server by the composition root with the
services it needs (constructor injection) and listed in one `ToolKinds` registry
(bootstrap/agents.py). Nothing is discovered: a kind not registered does not exist.

The life of a tool config (one `tools[]` item, a dict `{type, name, description?, ...}`):

1. Saving an agent: `config_schema` (a marshmallow Schema class) loads the item as the client sent
   it (unknown fields rejected; `type`, `name` and `description` are declared by BaseToolSchema,
   which every kind's schema extends). Then `prepare(config, previous, scope)` checks what needs
   the server (the workflow exists in the workspace, the url is allowed...) and returns the dict to
   store (e.g. headers encrypted). `previous` is the stored config of the tool of the same name
   before this save, if any, so a kind can keep a secret the client did not send again.
2. Reading an agent: `public(stored)` is what responses show (never a secret).
3. A reply: `functions(stored, ctx)` turns the stored config into the OpenAI function specs the
   model sees; one config may give several functions (an MCP server's tools). Function names are
   what the model calls; they must match `^[A-Za-z0-9_-]{1,64}$` and be unique within the agent
   (the default single function is named after the tool's `name`; a kind that expands names its
   functions itself, e.g. `<tool name>__<remote name>`, cut to 64 characters).
4. The model calls one: `call(stored, function, arguments, ctx)` runs it and returns a ToolResult.
   `arguments` is the JSON object the model sent, already parsed (a dict; not checked against the
   parameters schema: the kind checks what it needs). A result is always text for the model; an
   error is also a result (`ToolResult.failed(...)`): the model reads it and may try again. A kind
   may instead raise ToolError or a DomainError (NotFound, Forbidden, ValidationFailed,
   UpstreamError, LimitExceeded...): the loop turns its message into an error result. Any other
   exception is a bug: the loop logs it and tells the model "internal error in the tool".

Every run is untrusted work done for the talk's user: `ctx.actor` is that user (never more
rights: a workflow runs as them, a file must be one they can read), `ctx.deadline` bounds it
(stop before `ctx.deadline.remaining()` runs out, and give up when `ctx.deadline.cancelled()`
becomes true: the user pressed stop).
"""
from __future__ import annotations

import builtins
import re
from abc import ABC, abstractmethod
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, ClassVar

from marshmallow import RAISE, Schema, ValidationError, fields, validate

from entities.actor import Actor
from entities.agent import Agent, ToolResult  # kinds import ToolResult from here
from entities.deadline import Deadline
from entities.errors import DomainError, ValidationFailed

FUNCTION_NAME = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
MAX_RESULT_CHARS = 20_000  # what the model reads of one result; the loop cuts longer ones


class ToolError(Exception):
    """A tool run failed in a way the model should read (bad arguments, remote error...)."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


@dataclass(frozen=True)
class ToolFunction:
    """One function the model may call: `name` (see FUNCTION_NAME), a description, and the JSON
    schema (an object schema) of its arguments."""

    name: str
    description: str
    parameters: dict[str, Any] = field(
        default_factory=lambda: {"type": "object", "properties": {}})

    def spec(self) -> dict[str, Any]:
        """The OpenAI chat-completions `tools[]` item."""
        return {"type": "function", "function": {
            "name": self.name, "description": self.description, "parameters": self.parameters}}


@dataclass(frozen=True)
class ToolScope:
    """Where a tool config is being saved: the workspace of the agent, and who saves it."""

    actor: Actor
    workspace_id: str
    file_ids: tuple[str, ...] = ()  # the agent's file_ids as they will be saved


@dataclass(frozen=True)
class ToolContext:
    """Who and what a run is for. `actor` is the talk's user (or the API key's owner on /v1, the
    workflow's runner in an `agent` node): the identity every access check uses."""

    actor: Actor
    workspace_id: str
    agent: Agent
    deadline: Deadline
    talk_id: str | None = None
    file_ids: tuple[str, ...] = ()  # files attached to the talk (the agent's are agent.file_ids)
    in_workflow: bool = False  # the agent answers inside a workflow run (an `agent` node)


class BaseToolSchema(Schema):
    """The fields every tool has; a kind's schema extends it with its own (unknown -> error)."""

    class Meta:
        unknown = RAISE

    type = fields.String(required=True)
    name = fields.String(required=True, validate=validate.Regexp(
        FUNCTION_NAME, error="must be 1-64 letters, digits, '_' or '-'"))
    description = fields.String(load_default="", validate=validate.Length(max=2000))


class ToolKind(ABC):
    """One `type` of tool. Subclasses set `type` and `config_schema` and implement `functions`
    and `call`; `prepare` and `public` default to "store and show as loaded"."""

    config_schema: ClassVar[builtins.type[BaseToolSchema]]
    type: ClassVar[str]

    def load(self, raw: Any) -> dict[str, Any]:
        """The item as `config_schema` loads it; ValidationFailed (details: field -> messages)."""
        try:
            loaded = self.config_schema().load(raw)
        except ValidationError as error:
            raise ValidationFailed(f"Invalid {self.type} tool", details=_messages(error)) from None
        return dict(loaded)

    def prepare(self, config: dict[str, Any], previous: dict[str, Any] | None,
                scope: ToolScope) -> dict[str, Any]:
        """The config to store, after checks that need the server; raises ValidationFailed (or
        NotFound for a reference the saver cannot see). `config` is what `load` returned."""
        return config

    def public(self, stored: dict[str, Any]) -> dict[str, Any]:
        """The stored config as API responses show it (override to hide secrets)."""
        return dict(stored)

    def functions(self, stored: dict[str, Any], ctx: ToolContext) -> list[ToolFunction]:
        """The functions this tool offers the model (default: one, named after the tool, taking
        `parameters(stored, ctx)`). May raise ToolError/DomainError: the reply then goes on
        without this tool's functions (and the model is not told of them)."""
        return [ToolFunction(stored["name"], stored.get("description") or stored["name"],
                             self.parameters(stored, ctx))]

    def parameters(self, stored: dict[str, Any], ctx: ToolContext) -> dict[str, Any]:
        """The JSON schema of the single function's arguments (kinds using the default
        `functions`)."""
        return {"type": "object", "properties": {}}

    @abstractmethod
    def call(self, stored: dict[str, Any], function: str, arguments: dict[str, Any],
             ctx: ToolContext) -> ToolResult:
        """Runs `function` (one of this tool's function names) with `arguments`; see the module
        docstring for errors and limits."""


class ToolKinds:
    """The registered kinds by `type`."""

    def __init__(self, *kinds: ToolKind):
        self._kinds: dict[str, ToolKind] = {}
        for kind in kinds:
            if kind.type in self._kinds:
                raise ValueError(f"Two tool kinds are named {kind.type!r}")
            self._kinds[kind.type] = kind

    def __getitem__(self, name: str) -> ToolKind:
        kind = self._kinds.get(name)
        if kind is None:
            raise ValidationFailed(f"Unknown tool type {name!r}",
                                   details={"type": [f"one of {sorted(self._kinds)}"]})
        return kind

    def __contains__(self, name: object) -> bool:
        return name in self._kinds

    def __iter__(self) -> Iterator[str]:
        return iter(self._kinds)


def error_text(error: BaseException) -> str:
    """The message a failed run gives the model."""
    if isinstance(error, ToolError | DomainError):
        return error.message
    return "internal error in the tool"


def _messages(error: ValidationError) -> dict[str, Any]:
    messages = error.messages
    return messages if isinstance(messages, dict) else {"_schema": messages}
