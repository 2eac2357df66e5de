"""OpenAI's chat-completions, models, embeddings and legacy completions shapes: what `/v1`
accepts and returns."""
from marshmallow import INCLUDE, Schema, ValidationError, fields, validate

from controllers.schemas.common import IdempotentBodySchema

MAX_EMBEDDING_INPUTS = 2048
DEFAULT_COMPLETION_TOKENS = 16  # OpenAI's legacy completions default
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


def _texts(value) -> None:
    texts = [value] if isinstance(value, str) else value
    if not isinstance(texts, list) or not texts or len(texts) > MAX_EMBEDDING_INPUTS:
        raise ValidationError(f"A string or a list of 1 to {MAX_EMBEDDING_INPUTS} strings")
    if not all(isinstance(text, str) and text for text in texts):
        raise ValidationError("Only non-empty strings are supported (not token arrays)")


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


class EmbeddingRequestSchema(Schema):
    class Meta:
        unknown = INCLUDE

    model = fields.String(required=True, validate=validate.Length(min=1, max=200), metadata={
        "description": "A catalogue model whose mode is `embedding`"})
    input = fields.Raw(required=True, validate=_texts, metadata={
        "description": f"A string or up to {MAX_EMBEDDING_INPUTS} strings"})
    encoding_format = fields.String(load_default="float", allow_none=True,
                                    validate=validate.OneOf(["float", "base64"]), metadata={
                                        "description": "base64: little-endian float32 (what "
                                                       "the openai SDK asks for by default)"})
    dimensions = fields.Integer(allow_none=True, validate=validate.Range(min=1), metadata={
        "description": "Passed to models that take it"})
    user = fields.String(allow_none=True, validate=validate.Length(max=256))


class EmbeddingSchema(Schema):
    object = fields.String(required=True, metadata={"description": "embedding"})
    index = fields.Integer(required=True)
    embedding = fields.Raw(required=True, metadata={
        "description": "A list of floats, or a base64 string of float32"})


class EmbeddingUsageSchema(Schema):
    prompt_tokens = fields.Integer(required=True)
    total_tokens = fields.Integer(required=True)


class EmbeddingListSchema(Schema):
    object = fields.String(required=True, metadata={"description": "list"})
    data = fields.List(fields.Nested(EmbeddingSchema), required=True)
    model = fields.String(required=True)
    usage = fields.Nested(EmbeddingUsageSchema, required=True)


# --- legacy completions --------------------------------------------------------------------


def _prompt(value) -> None:
    if isinstance(value, str):
        return
    if not (isinstance(value, list) and len(value) == 1 and isinstance(value[0], str)):
        raise ValidationError("A string, or a list of exactly one string (token arrays and "
                              "several prompts are not supported)")


class CompletionRequestSchema(IdempotentBodySchema):
    class Meta:
        unknown = INCLUDE  # refused one by one, naming the field

    model = fields.String(validate=validate.Length(min=1, max=200), metadata={
        "description": "A model id of GET /v1/models; omitted: the workspace's default"})
    prompt = fields.Raw(required=True, validate=_prompt)
    max_tokens = fields.Integer(allow_none=True, validate=validate.Range(min=1), metadata={
        "description": f"Default {DEFAULT_COMPLETION_TOKENS}, as OpenAI's"})
    temperature = fields.Float(allow_none=True, validate=validate.Range(min=0, max=2))
    top_p = fields.Float(allow_none=True, validate=validate.Range(min=0, max=1))
    n = fields.Integer(allow_none=True, metadata={"description": "Only 1 is supported"})
    stream = fields.Boolean(load_default=False, allow_none=True)
    stream_options = fields.Nested(StreamOptionsSchema, allow_none=True)
    stop = fields.Raw(allow_none=True, validate=_stop)
    presence_penalty = fields.Float(allow_none=True, validate=validate.Range(min=-2, max=2))
    frequency_penalty = fields.Float(allow_none=True, validate=validate.Range(min=-2, max=2))
    logit_bias = fields.Dict(allow_none=True)
    seed = fields.Integer(allow_none=True)
    user = fields.String(allow_none=True, validate=validate.Length(max=256))
    suffix = fields.Raw(allow_none=True, metadata={"description": "Only null"})
    echo = fields.Boolean(allow_none=True, metadata={"description": "Only false"})
    best_of = fields.Integer(allow_none=True, metadata={"description": "Only 1"})
    logprobs = fields.Raw(allow_none=True, metadata={"description": "Only null"})


class CompletionSchema(Schema):
    class Meta:
        unknown = INCLUDE

    id = fields.String(required=True, metadata={"description": "cmpl-..."})
    object = fields.String(required=True, metadata={"description": "text_completion"})
    created = fields.Integer(required=True)
    model = fields.String(required=True)
    choices = fields.List(fields.Dict(), required=True, metadata={
        "description": "`[{text, index: 0, logprobs: null, finish_reason}]`"})
    usage = fields.Dict(required=True)
