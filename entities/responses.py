"""A stored Responses API response (OpenAI's `POST /v1/responses` with `store`): what
`GET /v1/responses/{id}` returns and what a follow-up's `previous_response_id` continues."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any


@dataclass
class StoredResponse:
    id: str  # "resp_<32 hex>"
    workspace_id: str
    model: str
    # The conversation up to and including this response, as chat-completion messages: the
    # previous response's, this request's input, then this response's output. Without
    # `instructions`: OpenAI does not carry them over to a follow-up.
    messages: list[dict[str, Any]]
    body: dict[str, Any]  # the Response object as returned (`object: "response"`)
    user_id: str | None = None
    api_key_id: str | None = None
    created_at: datetime | None = None
