"""What a reply cut short cost: the provider reports usage only for a finished reply.

A stream the client abandoned, one stopped by its user, one that failed midway or was cut at the
size cap still cost the prompt and the text produced until then: counted with the model's
tokenizer and priced from the catalogue, so usage and budgets see it.
"""
from __future__ import annotations

from entities.llm import ChatRequest, ProviderCredential, Usage
from use_cases.gateway.ports import LLMGateway

# Output tokens assumed for a call that sets no max_tokens (the reservation's worst case; the
# call is settled at its actual cost). A request that needs more says so with max_tokens.
DEFAULT_OUTPUT_TOKENS = 4096


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


def worst_case_cost(gateway: LLMGateway, request: ChatRequest) -> float:
    """The most `request` can cost on its model (API.md "Budgets that hold"): its prompt at the
    input price plus `max_tokens` (else DEFAULT_OUTPUT_TOKENS, never more than the context
    window leaves) at the output price; the prompt counts the function specs of `tools` too
    (an agent's can be larger than its messages). 0 for a free model, with no tokenizing."""
    model = request.model or ""
    info = next((m for m in gateway.models(request.credentials) if m.id == model), None)
    if info is None or not (info.input_cost_per_token or info.output_cost_per_token):
        return 0.0
    tools = request.extra.get("tools") if request.extra else None
    prompt = gateway.count_tokens(model, request.messages,
                                  tools if isinstance(tools, list) else None)
    window = info.context_window or DEFAULT_OUTPUT_TOKENS + prompt
    output = request.max_tokens or min(DEFAULT_OUTPUT_TOKENS, max(1, window - prompt))
    return prompt * (info.input_cost_per_token or 0.0) + output * (info.output_cost_per_token or 0.0)
