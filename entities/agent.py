"""Agents: saved assistants of a workspace (instructions, model, tools) that a talk, a workflow
node or an OpenAI client (`model: "agent/<id>"`) can answer through."""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

DEFAULT_MAX_TOOL_ROUNDS = 8
MAX_TOOL_ROUNDS_LIMIT = 32
AGENT_MODEL_PREFIX = "agent/"


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
