"""Agents: saved assistants of a workspace (instructions, model, tools) that a talk, a workflow
node or an OpenAI client (`model: "agent/<id>"`) can answer through."""
from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

DEFAULT_MAX_TOOL_ROUNDS = 8
MAX_TOOL_ROUNDS_LIMIT = 32
AGENT_MODEL_PREFIX = "agent/"
MAX_TOOL_CALLS_PER_ROUND = 16  # calls of one model answer that run; the rest get an error result
TOO_MANY_CALLS = (f"not run: at most {MAX_TOOL_CALLS_PER_ROUND} tool calls run per answer; "
                  "call fewer at a time")


@dataclass
class Agent:
    id: str
    workspace_id: str
    name: str
    model: str
    created_by: str
    description: str = ""
    instructions: str = ""
    temperature: float | None = None
    max_tokens: int | None = None
    # each `{type, name, description?, ...kind fields}` as stored (secrets encrypted by the kind)
    tools: list[dict[str, Any]] = field(default_factory=list)
    file_ids: list[str] = field(default_factory=list)
    max_tool_rounds: int = DEFAULT_MAX_TOOL_ROUNDS
    version: int = 1
    created_at: datetime | None = None
    updated_at: datetime | None = None
    deleted_at: datetime | None = None


def with_unique_ids(calls: list[tuple[str, str, str]]) -> list[tuple[str, str, str]]:
    """The (id, name, arguments) tool calls of one model answer, each empty or repeated id
    replaced by a new `call_<hex>`: every `tool` message must answer exactly one call, and a
    conversation with two calls of one id is refused by providers on every later turn."""
    seen: set[str] = set()
    unique = []
    for call_id, name, arguments in calls:
        if not call_id or call_id in seen:
            call_id = f"call_{uuid.uuid4().hex[:24]}"
        seen.add(call_id)
        unique.append((call_id, name, arguments))
    return unique


@dataclass(frozen=True)
class ToolResult:
    """What goes back to the model as the `role: "tool"` message: `content` (text). `error` is
    set when the run failed (then `content` is the error text too); it is shown to the client in
    the `tool_result` event and stored on the message."""

    content: str
    error: str | None = None

    @classmethod
    def ok(cls, value: Any) -> ToolResult:
        """A result from any value: a string as is, anything else as JSON."""
        text = value if isinstance(value, str) else json.dumps(value, default=str,
                                                                ensure_ascii=False)
        return cls(text)

    @classmethod
    def failed(cls, message: str) -> ToolResult:
        return cls(f"Error: {message}", error=message)


@dataclass(frozen=True)
class Toolbox:
    """An agent's tools ready for one reply: `specs` (OpenAI chat `tools[]` items) and `call`,
    which runs one function by name with the model's JSON arguments text and never raises (an
    error is a ToolResult with `error`)."""

    specs: list[dict[str, Any]]
    call: Callable[[str, str], ToolResult]


def no_tools(name: str, arguments: str) -> ToolResult:
    return ToolResult.failed(f"no tool is named {name!r}")


@dataclass(frozen=True)
class AgentSetup:
    """An agent ready to answer one reply: the agent (model, instructions, settings, rounds)
    and its toolbox."""

    agent: Agent
    toolbox: Toolbox
