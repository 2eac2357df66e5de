"""What a reply cut short cost: the provider reports usage only for a finished reply.

A stream the client abandoned, one stopped by its user, one that failed midway or was cut at the
size cap still cost the prompt and the text produced until then: counted with the model's
tokenizer and priced from the catalogue, so usage and budgets see it.
"""
from __future__ import annotations

from entities.llm import ProviderCredential, Usage
from use_cases.gateway.ports import LLMGateway


def estimate_usage(gateway: LLMGateway, model: str, messages: list[dict], content: str,
                   credentials: dict[str, ProviderCredential]) -> Usage:
    """Usage of `messages` answered by `content` on `model` (prices per token from models())."""
    prompt = gateway.count_tokens(model, messages)
    completion = gateway.count_tokens(model, [{"role": "assistant", "content": content}]) if content else 0
    info = next((m for m in gateway.models(credentials) if m.id == model), None)
    cost = 0.0
    if info is not None:
        cost = prompt * (info.input_cost_per_token or 0.0) + completion * (info.output_cost_per_token or 0.0)
    return Usage(prompt, completion, cost)
