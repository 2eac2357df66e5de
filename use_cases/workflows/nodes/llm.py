"""`llm`: a model call through the gateway, its reply streamed as deltas while it comes."""
from __future__ import annotations

from typing import Any, Self

from entities.llm import ChatRequest
from use_cases.gateway.llm_chat import LLMChat
from use_cases.workflows.nodes.base import (
    NodeContext,
    NodeError,
    NodeRole,
    NodeServices,
    NodeType,
    as_text,
    strict_schema,
)
from use_cases.workflows.ports import JsonQuery
from use_cases.workflows.secret_stripping import SecretStripper


class LlmNode(NodeType):
    type = "llm"
    title = "LLM"
    description = "A model call through the gateway (workspace keys, budgets, usage)."
    output = "the reply text"
    config_schema = strict_schema(
        {"model": {"type": "string", "minLength": 1, "maxLength": 200},
         "prompt": {"type": "string", "minLength": 1, "maxLength": 100_000},
         "system_prompt": {"type": "string", "maxLength": 100_000},
         "temperature": {"type": "number", "minimum": 0, "maximum": 2},
         "max_tokens": {"type": "integer", "minimum": 1, "maximum": 1_000_000}},
        ("model", "prompt"))
    role = NodeRole.STEP
    renders_itself = ()
    literal_keys = ()

    def __init__(self, llm: LLMChat):
        self.llm = llm  # access, budget and usage as for any chat

    @classmethod
    def build(cls, services: NodeServices) -> Self:
        return cls(services.llm)

    @classmethod
    def config_problems(cls, config: dict[str, Any], paths: JsonQuery) -> list[str]:
        return []

    @classmethod
    def publish(cls, config: dict[str, Any], secrets: SecretStripper) -> dict[str, Any]:
        return config  # provider keys live in the workspace, never in the node

    def run(self, ctx: NodeContext) -> str:
        config = ctx.config
        messages = []
        if config.get("system_prompt"):
            messages.append({"role": "system", "content": as_text(config["system_prompt"])})
        messages.append({"role": "user", "content": as_text(config["prompt"])})
        request = ChatRequest(messages=messages, model=config["model"],
                              temperature=config.get("temperature"),
                              max_tokens=config.get("max_tokens"))
        chunks = self.llm.chat_stream(ctx.execution.created_by, ctx.execution.workspace_id,
                                      request, source="workflow")
        parts, result = [], None
        try:
            for chunk in chunks:
                if ctx.deadline.cancelled():
                    raise NodeError("cancelled")
                if chunk.delta:
                    parts.append(chunk.delta)
                    ctx.emit_delta(chunk.delta)
                if chunk.result is not None:
                    result = chunk.result
        finally:
            close = getattr(chunks, "close", None)
            if close:
                close()
        return "".join(parts) or (result.content if result else "")
