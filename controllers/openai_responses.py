"""/v1/responses: OpenAI's Responses API over the gateway's chat completions.

Same authentication (a workspace API key or a user token with `X-Workspace-ID`), rate limit
(RATELIMIT_LLM, shared with every model call), budgets, usage and OpenAI-shaped errors as
`/v1/chat/completions` (controllers/openai.py); the mapping is use_cases/gateway/
openai_responses.py, the shapes LiteLLM's bridge (adapters/responses_translation.py).
"""
from __future__ import annotations

from flask import Response

from controllers.blueprint import Blueprint
from controllers.deferred_limits import limit_llm_deferred
from controllers.deps import use_cases
from controllers.idempotency import claim, idempotent
from controllers.openai import (
    STREAM_HEADERS,
    documented_errors,
    key_or_token,
    session_watch,
    workspace_header,
)
from controllers.rate_limits import limiter
from controllers.responses_stream import response_events
from controllers.schemas.common import SSE_EVENT_SCHEMA
from controllers.schemas.openai_responses import ResponseCreateRequestSchema, ResponseSchema
from controllers.security import current_actor
from entities.errors import InvalidParameter
from entities.idempotency import StoredResponse
from entities.llm import StreamChunk
from use_cases.gateway.openai_responses import ResponseDone, message_item_id

blp = Blueprint("openai_responses", __name__, url_prefix="/v1",
                description="OpenAI's Responses API, mapped onto chat completions: stored "
                            "responses, previous_response_id, typed stream events, function tools")

DECLARED = frozenset(ResponseCreateRequestSchema().fields)


RESPONSE_STREAM = "response_stream"  # an idempotent stream's kept answer: the finished Response


def replay_stream(stored: StoredResponse) -> Response:
    """A repeated streamed response (the same Idempotency-Key): the first one's events again,
    from its kept Response (its text as one delta), without calling the model or storing a
    second response."""
    body = stored.body["response"]
    started = {**body, "status": "in_progress", "output": [], "usage": None}
    whole = "".join(part.get("text", "") for item in body.get("output") or []
                    if item.get("type") == "message" for part in item.get("content") or [])
    items: list[StreamChunk | ResponseDone] = [StreamChunk(delta=whole)] if whole else []
    items.append(ResponseDone(body))
    return Response(response_events(started, message_item_id(body["id"]), iter(items)),
                    mimetype="text/event-stream", headers=STREAM_HEADERS)


@blp.post("/responses")
@limiter.exempt
@limit_llm_deferred
@key_or_token
@blp.arguments(ResponseCreateRequestSchema)
@idempotent(replay=replay_stream)
@blp.response(200, ResponseSchema)
@blp.alt_response(200, description="With `stream: true`: typed events (`event: <type>` and "
                  "`data: {type, sequence_number, ...}`), from `response.created` to "
                  "`response.completed`", schema=SSE_EVENT_SCHEMA,
                  content_type="text/event-stream", success=True)
@documented_errors
def create_response(body):
    """Create a model response (OpenAI-compatible Responses API)

    OpenAI's `POST /v1/responses`, answered by one chat completion through the gateway (usage,
    budgets, rate limits, fallbacks as for /v1/chat/completions). `input` is a string or items
    (messages with `input_text`/`input_image` parts, `function_call`, `function_call_output`);
    `instructions` is a system message for this response only; `tools` are function tools
    (`{type: "function", name, parameters}`), answered by `function_call` output items; a
    `function_call_output` item in a follow-up returns the result. With `store` (default true)
    the response is kept 30 days for GET /v1/responses/{id} and for `previous_response_id`,
    which continues its conversation (from any worker). `model` defaults to the previous
    response's, else the workspace's default.

    Passed on: `temperature`, `top_p`, `max_output_tokens` (as max_tokens), `tool_choice`,
    `parallel_tool_calls`, `text.format` (as response_format), `reasoning.effort`, `user`,
    `service_tier`, `prompt_cache_key`, `safety_identifier` (to providers that take them).
    Accepted and echoed: `metadata`, `truncation`, `include`, `stream_options`,
    `background: false`. Anything else is 400 `invalid_request_error` naming it in `param`.

    With `"stream": true`: `text/event-stream` of OpenAI's typed events: `response.created`,
    `response.in_progress`, `response.output_item.added`, `response.content_part.added`,
    `response.output_text.delta`..., `response.output_text.done`, `response.content_part.done`,
    `response.output_item.done` (and the function-call events), then `response.completed`
    (`response.incomplete` when cut at max_output_tokens). A failure after the stream started
    is an `error` event then `response.failed`.

    Errors (OpenAI's shape, `param` naming the field): 400 unknown parameter, a tool that is not
    a function, `background: true`, or an unknown `previous_response_id`
    (`previous_response_not_found`); 401; 402 budget; 404 unknown model (`model_not_found`) or
    workspace; 422 invalid value; 429; 502; 504."""
    refuse_unsupported(body)
    actor, workspace_id = current_actor(), workspace_header()
    responses = use_cases().openai_responses
    call = responses.start(actor, workspace_id, body)
    if not body.get("stream"):
        return responses.complete(actor, workspace_id, call)
    model, items = responses.stream(actor, workspace_id, call)
    started = responses.in_progress(call, model)
    watch = session_watch(workspace_id)
    held = claim()
    on_done = None
    if held is not None:  # a repeat gets this response, never a second call
        def on_done(body: dict) -> None:
            held.finish(StoredResponse(200, {"response": body}, RESPONSE_STREAM))
    events = response_events(started, message_item_id(call.id), items,
                             live=watch.live if watch else lambda: True,
                             on_close=watch.close if watch else lambda: None,
                             on_done=on_done or (lambda body: None))
    return Response(events, mimetype="text/event-stream", headers=STREAM_HEADERS)


@blp.get("/responses/<string:response_id>")
@key_or_token
@blp.response(200, ResponseSchema)
@documented_errors
def retrieve_response(response_id: str):
    """Retrieve a model response (OpenAI-compatible)

    A response stored by POST /v1/responses (`store` not false) in the caller's workspace,
    as it was returned. 404 (OpenAI's shape) for an unknown id, one of another workspace, one
    made with `store: false`, or one older than 30 days."""
    return use_cases().openai_responses.retrieve(current_actor(), workspace_header(),
                                                 response_id)


def refuse_unsupported(body: dict) -> None:
    """400 naming the field: unknown parameters, tools that are not functions, background."""
    for name in body:
        if name not in DECLARED:
            raise InvalidParameter(f"Unknown parameter: '{name}'.", name, "unknown_parameter")
    for index, tool in enumerate(body.get("tools") or []):
        if tool.get("type") != "function":
            raise InvalidParameter(
                f"Tool type '{tool.get('type')}' is not supported: only function tools are",
                f"tools[{index}].type", "unsupported_parameter")
        if not isinstance(tool.get("name"), str) or not tool["name"]:
            raise InvalidParameter("A function tool needs a name", f"tools[{index}].name",
                                   "missing_required_parameter")
    if body.get("background"):
        raise InvalidParameter("Background responses are not supported", "background",
                               "unsupported_parameter")
