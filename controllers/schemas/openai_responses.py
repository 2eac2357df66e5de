"""OpenAI's Responses API shapes (`/v1/responses`): what it accepts and returns.

Unknown fields are let through the schema (INCLUDE) so the controller can refuse each with a
400 naming it in `param`, as OpenAI does.
"""
from marshmallow import INCLUDE, Schema, ValidationError, fields, validate

from controllers.schemas.common import IdempotentBodySchema

MAX_ITEMS = 10_000


def _input(value) -> None:
    if isinstance(value, str):
        return
    if not isinstance(value, list) or not value or len(value) > MAX_ITEMS:
        raise ValidationError(f"A string, or a list of 1 to {MAX_ITEMS} items")
    for index, item in enumerate(value):
        if not isinstance(item, dict):
            raise ValidationError(f"input[{index}] must be an object (a message or an item)")


class ResponseCreateRequestSchema(IdempotentBodySchema):
    """OpenAI's `POST /v1/responses` body. `tools` of type `function` only."""

    class Meta:
        unknown = INCLUDE

    model = fields.String(validate=validate.Length(min=1, max=200), metadata={
        "description": "A model id of GET /v1/models; omitted: the previous response's, else "
                       "the workspace's default"})
    input = fields.Raw(required=True, validate=_input, metadata={
        "description": "A string, or items: messages `{role, content}` (content a string or "
                       "`input_text`/`input_image` parts), `function_call`, "
                       "`function_call_output`"})
    instructions = fields.String(allow_none=True, validate=validate.Length(max=256_000),
                                 metadata={"description": "A system message for this response "
                                                          "only (not carried to a follow-up)"})
    previous_response_id = fields.String(allow_none=True, validate=validate.Length(max=100),
                                         metadata={"description": "Continue a stored response"})
    stream = fields.Boolean(load_default=False, allow_none=True)
    store = fields.Boolean(allow_none=True, metadata={
        "description": "Keep the response 30 days for GET and previous_response_id "
                       "(default true)"})
    tools = fields.List(fields.Dict(), allow_none=True, validate=validate.Length(max=128),
                        metadata={"description": "`{type: \"function\", name, description?, "
                                                 "parameters?, strict?}` only"})
    tool_choice = fields.Raw(allow_none=True)
    parallel_tool_calls = fields.Boolean(allow_none=True)
    temperature = fields.Float(allow_none=True, validate=validate.Range(min=0, max=2))
    top_p = fields.Float(allow_none=True, validate=validate.Range(min=0, max=1))
    max_output_tokens = fields.Integer(allow_none=True, validate=validate.Range(min=1))
    metadata = fields.Dict(allow_none=True, metadata={"description": "Echoed and stored"})
    user = fields.String(allow_none=True, validate=validate.Length(max=256))
    text = fields.Dict(allow_none=True, metadata={
        "description": "`{format: {type: text | json_object | json_schema, ...}}` -> the "
                       "chat completion's response_format"})
    reasoning = fields.Dict(allow_none=True, metadata={
        "description": "`{effort}` -> reasoning_effort, for models that take it"})
    truncation = fields.String(allow_none=True, validate=validate.OneOf(["auto", "disabled"]),
                               metadata={"description": "Echoed; nothing is truncated"})
    include = fields.List(fields.String(), allow_none=True, metadata={
        "description": "Accepted; no extra output is included"})
    stream_options = fields.Dict(allow_none=True, metadata={"description": "Accepted, ignored"})
    background = fields.Boolean(allow_none=True, metadata={"description": "Only false"})
    service_tier = fields.String(allow_none=True, validate=validate.Length(max=20))
    prompt_cache_key = fields.String(allow_none=True, validate=validate.Length(max=256))
    safety_identifier = fields.String(allow_none=True, validate=validate.Length(max=256))


class ResponseSchema(Schema):
    """OpenAI's Response object (`openai.types.responses.Response`)."""

    id = fields.String(required=True, metadata={"description": "resp_..."})
    object = fields.String(required=True, metadata={"description": "response"})
    created_at = fields.Integer(required=True, metadata={"description": "Unix seconds"})
    status = fields.String(required=True, metadata={
        "description": "completed | incomplete | in_progress | failed"})
    model = fields.String(required=True, metadata={
        "description": "The model that answered (a fallback, if the requested one failed)"})
    output = fields.List(fields.Dict(), required=True, metadata={
        "description": "`message` items (`output_text` parts) and `function_call` items "
                       "`{id, call_id, name, arguments, status}`"})
    usage = fields.Dict(allow_none=True, metadata={
        "description": "`{input_tokens, output_tokens, total_tokens, input_tokens_details, "
                       "output_tokens_details}`"})
    error = fields.Dict(allow_none=True)
    incomplete_details = fields.Dict(allow_none=True)
    instructions = fields.Raw(allow_none=True)
    metadata = fields.Dict(allow_none=True)
    parallel_tool_calls = fields.Boolean(required=True)
    temperature = fields.Float(allow_none=True)
    top_p = fields.Float(allow_none=True)
    tool_choice = fields.Raw(required=True)
    tools = fields.List(fields.Dict(), required=True)
    max_output_tokens = fields.Integer(allow_none=True)
    previous_response_id = fields.String(allow_none=True)
    reasoning = fields.Dict(allow_none=True)
    text = fields.Dict(allow_none=True)
    truncation = fields.String(allow_none=True)
    user = fields.String(allow_none=True)
    store = fields.Boolean(allow_none=True)
    background = fields.Boolean(allow_none=True)
    service_tier = fields.String(allow_none=True)
    prompt_cache_key = fields.String(allow_none=True)
    safety_identifier = fields.String(allow_none=True)
