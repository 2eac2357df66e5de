"""OpenAI's chat-completions shapes: what `/v1` accepts and returns."""
from marshmallow import INCLUDE, Schema, ValidationError, fields, validate

from controllers.schemas.common import IdempotentBodySchema

ROLES = ("system", "developer", "user", "assistant", "tool", "function")
MAX_STOP = 4


def _messages(messages: list) -> None:
    for index, message in enumerate(messages):
        if message.get("role") not in ROLES:
            raise ValidationError(f"messages[{index}].role must be one of {', '.join(ROLES)}")
        content = message.get("content")
        if content is not None and not isinstance(content, str | list):
            raise ValidationError(f"messages[{index}].content must be a string or a list of parts")


def _stop(stop) -> None:
    if stop is None or isinstance(stop, str):
        return
    if not (isinstance(stop, list) and all(isinstance(s, str) for s in stop)) or len(stop) > MAX_STOP:
        raise ValidationError(f"A string or a list of at most {MAX_STOP} strings")


class StreamOptionsSchema(Schema):
    include_usage = fields.Boolean(allow_none=True, metadata={
        "description": "Send a last chunk with `usage` (and no choices) before [DONE]"})


class ChatCompletionRequestSchema(IdempotentBodySchema):
    """Any other chat-completion parameter LiteLLM knows (`service_tier`, `prompt_cache_key`,
    `safety_identifier`, `modalities`, `prediction`, `web_search_options`, `verbosity`,
    `functions`, `function_call`, `top_k`...) is passed on to providers that take it; an
    unknown field is a 400 naming it in `param`."""

    class Meta:
        unknown = INCLUDE  # the controller checks them against what the gateway passes on

    model = fields.String(validate=validate.Length(min=1, max=200), metadata={
        "description": "A model id of GET /v1/models; omitted: the workspace's default"})
    messages = fields.List(fields.Dict(), required=True,
                           validate=[validate.Length(min=1, max=10_000), _messages])
    temperature = fields.Float(allow_none=True, validate=validate.Range(min=0, max=2))
    top_p = fields.Float(allow_none=True, validate=validate.Range(min=0, max=1))
    n = fields.Integer(allow_none=True, metadata={"description": "Only 1 is supported"})
    stream = fields.Boolean(load_default=False, allow_none=True)
    stream_options = fields.Nested(StreamOptionsSchema, allow_none=True)
    stop = fields.Raw(allow_none=True, validate=_stop, metadata={
        "description": "A string or up to 4 strings"})
    max_tokens = fields.Integer(allow_none=True, validate=validate.Range(min=1))
    max_completion_tokens = fields.Integer(allow_none=True, validate=validate.Range(min=1))
    presence_penalty = fields.Float(allow_none=True, validate=validate.Range(min=-2, max=2))
    frequency_penalty = fields.Float(allow_none=True, validate=validate.Range(min=-2, max=2))
    logit_bias = fields.Dict(allow_none=True)
    logprobs = fields.Boolean(allow_none=True)
    top_logprobs = fields.Integer(allow_none=True, validate=validate.Range(min=0, max=20))
    seed = fields.Integer(allow_none=True)
    user = fields.String(allow_none=True, validate=validate.Length(max=256))
    response_format = fields.Dict(allow_none=True, metadata={
        "description": "Passed to providers that support it"})
    tools = fields.List(fields.Dict(), allow_none=True, validate=validate.Length(max=128))
    tool_choice = fields.Raw(allow_none=True)
    parallel_tool_calls = fields.Boolean(allow_none=True)
    reasoning_effort = fields.String(allow_none=True, validate=validate.Length(max=20))
    metadata = fields.Dict(allow_none=True, metadata={"description": "Accepted and ignored"})
    store = fields.Boolean(allow_none=True, metadata={"description": "Accepted and ignored"})


class UsageSchema(Schema):
    prompt_tokens = fields.Integer(required=True)
    completion_tokens = fields.Integer(required=True)
    total_tokens = fields.Integer(required=True)


class AssistantMessageSchema(Schema):
    role = fields.String(required=True)
    content = fields.String(allow_none=True, required=True)
    tool_calls = fields.List(fields.Dict())


class ChoiceSchema(Schema):
    index = fields.Integer(required=True)
    message = fields.Nested(AssistantMessageSchema, required=True)
    finish_reason = fields.String(allow_none=True, required=True)
    logprobs = fields.Raw(allow_none=True)


class ChatCompletionSchema(Schema):
    id = fields.String(required=True)
    object = fields.String(required=True, metadata={"description": "chat.completion"})
    created = fields.Integer(required=True)
    model = fields.String(required=True, metadata={
        "description": "The model that answered (a fallback, if the requested one failed)"})
    choices = fields.List(fields.Nested(ChoiceSchema), required=True)
    usage = fields.Nested(UsageSchema, required=True)
    system_fingerprint = fields.String(allow_none=True)


class ModelSchema(Schema):
    id = fields.String(required=True)
    object = fields.String(required=True, metadata={"description": "model"})
    created = fields.Integer(required=True)
    owned_by = fields.String(required=True)


class ModelListSchema(Schema):
    object = fields.String(required=True, metadata={"description": "list"})
    data = fields.List(fields.Nested(ModelSchema), required=True)


class OpenAIErrorBodySchema(Schema):
    message = fields.String(required=True)
    type = fields.String(required=True)
    code = fields.String(allow_none=True)
    param = fields.String(allow_none=True)


class OpenAIErrorSchema(Schema):
    error = fields.Nested(OpenAIErrorBodySchema, required=True)
