"""What a model call is, what it returns, and what it cost."""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any


@dataclass(frozen=True)
class ProviderCredential:
    """A workspace's own key for one provider (decrypted only in memory, never persisted so)."""

    provider: str
    api_key: str
    api_base: str | None = None


@dataclass
class ChatRequest:
    messages: list[dict[str, Any]]  # OpenAI-style {"role", "content"} (content may be parts)
    model: str | None = None  # None: the default model
    temperature: float | None = None
    max_tokens: int | None = None
    stop: list[str] | None = None
    extra: dict[str, Any] = field(default_factory=dict)  # response_format, tools, tool_choice...
    credentials: dict[str, ProviderCredential] = field(default_factory=dict)


@dataclass
class Usage:
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float = 0.0

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens


@dataclass
class ChatResult:
    id: str
    model: str  # the model that actually answered (differs from the request after a fallback)
    provider: str
    content: str
    usage: Usage
    latency_ms: float
    ttft_ms: float | None = None
    fallback_used: bool = False
    finish_reason: str | None = "stop"
    tool_calls: list[dict[str, Any]] | None = None


@dataclass
class StreamChunk:
    """One streamed piece: a text delta, or (last) the finished result."""

    delta: str = ""
    result: ChatResult | None = None


@dataclass(frozen=True)
class ModelInfo:
    id: str
    provider: str
    available: bool
    default: bool
    context_window: int | None
    input_cost_per_token: float | None
    output_cost_per_token: float | None
    supports_vision: bool = False
    supports_function_calling: bool = False  # may be given `tools` (agents with tools need it)
    mode: str = "chat"  # LiteLLM's model mode: "chat", "embedding"...


@dataclass
class EmbeddingRequest:
    """Texts to embed (OpenAI's `input`, already a list of strings) with one model."""

    input: list[str]
    model: str
    dimensions: int | None = None
    user: str | None = None
    credentials: dict[str, ProviderCredential] = field(default_factory=dict)


@dataclass
class EmbeddingResult:
    model: str  # the model that answered
    provider: str
    vectors: list[list[float]]  # one per input, in order
    usage: Usage  # completion_tokens is 0
    latency_ms: float


@dataclass
class UsageRecord:
    workspace_id: str | None
    user_id: str | None
    model: str
    provider: str
    status: str  # "success" | "error"
    source: str  # "talk" | "llm_chat" | "openai" | "workflow"
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float = 0.0
    latency_ms: float = 0.0
    ttft_ms: float | None = None
    error: str | None = None
    talk_id: str | None = None
    api_key_id: str | None = None
    created_at: datetime | None = None
    fallback_from: str | None = None  # the requested model, when a fallback answered instead
