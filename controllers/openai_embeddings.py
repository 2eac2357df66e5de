"""/v1/embeddings: OpenAI's embeddings for catalogue models whose mode is `embedding`.

Same authentication, rate limit (RATELIMIT_LLM), budgets, usage records and OpenAI-shaped
errors as `/v1/chat/completions` (controllers/openai.py).
"""
from __future__ import annotations

import base64
import struct

from controllers.blueprint import Blueprint
from controllers.deferred_limits import limit_llm_deferred
from controllers.deps import use_cases
from controllers.openai import documented_errors, key_or_token, workspace_header
from controllers.rate_limits import limiter
from controllers.schemas.openai import EmbeddingListSchema, EmbeddingRequestSchema
from controllers.security import current_actor
from entities.errors import InvalidParameter
from entities.llm import EmbeddingRequest

blp = Blueprint("openai_embeddings", __name__, url_prefix="/v1",
                description="OpenAI-compatible embeddings, for models that support them")

DECLARED = frozenset(EmbeddingRequestSchema().fields)


@blp.post("/embeddings")
@limiter.exempt
@limit_llm_deferred
@key_or_token
@blp.arguments(EmbeddingRequestSchema)
@blp.response(200, EmbeddingListSchema)
@documented_errors
def create_embeddings(body):
    """Create embeddings (OpenAI-compatible)

    OpenAI's `POST /v1/embeddings`: `input` a string or up to 2048 strings (token arrays are
    not supported), `model` a catalogue model whose mode is `embedding` (GET /v1/models lists
    them; the catalogue's `model_info.mode`, else LiteLLM's model map, says which).
    `encoding_format` `float` (default) or `base64` (little-endian float32, what the openai SDK
    asks for); `dimensions` and `user` go to providers that take them. Usage (prompt tokens at
    the model's input price) is recorded and held against budgets like a chat call.
    200 `{object: "list", data: [{object: "embedding", index, embedding}], model,
    usage: {prompt_tokens, total_tokens}}`.

    Errors (OpenAI's shape): 400 an unknown parameter, or a model that does not embed
    (`unsupported_model`, `param: "model"`); 401; 402 budget; 404 unknown model
    (`model_not_found`) or workspace; 422 invalid value (`param` names it); 429; 502; 504."""
    for name in body:
        if name not in DECLARED:
            raise InvalidParameter(f"Unrecognized request argument supplied: {name}", name,
                                   "unknown_parameter")
    texts = [body["input"]] if isinstance(body["input"], str) else list(body["input"])
    result = use_cases().openai.embed(current_actor(), workspace_header(), EmbeddingRequest(
        input=texts, model=body["model"], dimensions=body.get("dimensions"),
        user=body.get("user")))
    as_base64 = body.get("encoding_format") == "base64"
    return {
        "object": "list",
        "data": [{"object": "embedding", "index": index,
                  "embedding": encoded(vector) if as_base64 else vector}
                 for index, vector in enumerate(result.vectors)],
        "model": result.model,
        "usage": {"prompt_tokens": result.usage.prompt_tokens,
                  "total_tokens": result.usage.prompt_tokens},
    }


def encoded(vector: list[float]) -> str:
    """OpenAI's base64 encoding: the vector as little-endian float32."""
    return base64.b64encode(struct.pack(f"<{len(vector)}f", *vector)).decode()
