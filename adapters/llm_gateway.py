"""Every model call, through a `litellm.Router` built from the model catalogue.

Workspace keys get their own Router, cached by a fingerprint of the keys (least recently used
evicted). Passing api_key per call instead would send a workspace's OpenAI key to the Anthropic
fallback hop too, and would share cooldowns between the server's key and the workspace's: a
workspace whose key is rate limited must not push every other workspace onto the fallbacks.

LiteLLM is imported on first use: it takes seconds, and the app must start fast.
"""
from __future__ import annotations

import hashlib
import json
import logging
import os
import threading
import time
import uuid
from collections import OrderedDict
from collections.abc import Callable, Iterator, Mapping
from functools import cache
from pathlib import Path
from typing import Any

from adapters.event_loop_thread import EventLoopThread
from adapters.llm_errors import upstream_error
from adapters.model_catalogue import (
    LOCAL_URL_VARIABLE,
    Catalogue,
    ModelEntry,
    load_catalogue,
    provider_key,
)
from adapters.outbound_http import GuardedHttpClient
from adapters.remote_images import RemoteImages
from entities.errors import (
    InvalidParameter,
    ReplyTooLarge,
    UnknownModel,
    UpstreamError,
    ValidationFailed,
)
from entities.llm import (
    ChatRequest,
    ChatResult,
    EmbeddingRequest,
    EmbeddingResult,
    ModelInfo,
    ProviderCredential,
    StreamChunk,
    Usage,
)
from entities.outbound import OutboundFailed, OutboundRefused
from use_cases.gateway.ports import LLMGateway
from use_cases.shared.ttl_cache import TtlCache

log = logging.getLogger(__name__)

DEFAULT_CONTEXT_WINDOW = 8192
# Never passed on from a caller: where a call goes and with which credentials or headers (a
# caller could point the server, and its keys, at any address), LiteLLM's own controls, and what
# ChatRequest carries in its own fields or the gateway decides (stream, n, store, metadata).
NEVER_PASSED = frozenset({
    "api_key", "api_base", "base_url", "api_version", "deployment_id", "organization",
    "default_headers", "extra_headers", "timeout", "request_timeout", "max_retries",
    "custom_llm_provider", "drop_params", "additional_drop_params", "allowed_openai_params",
    "model", "messages", "temperature", "max_tokens", "max_completion_tokens", "stop", "n",
    "stream", "stream_options", "store", "metadata",
})
# Sampling parameters that are not OpenAI's but that LiteLLM hands to providers taking them
# (Anthropic, Gemini, Ollama, vLLM...): what an OpenAI SDK sends through `extra_body`.
PROVIDER_PARAMS = frozenset({"top_k"})


@cache
def extra_params() -> frozenset[str]:
    """What ChatRequest.extra may pass on: LiteLLM's chat-completion parameters (per provider,
    `drop_params` drops what a provider does not take), minus NEVER_PASSED. Read on first use,
    like LiteLLM itself."""
    from litellm.constants import DEFAULT_CHAT_COMPLETION_PARAM_VALUES, OPENAI_CHAT_COMPLETION_PARAMS
    return frozenset({*OPENAI_CHAT_COMPLETION_PARAMS, *DEFAULT_CHAT_COMPLETION_PARAM_VALUES,
                      *PROVIDER_PARAMS}) - NEVER_PASSED
LOCAL_MODEL = "local/smollm2"
EMBEDDING = "embedding"
ADDRESS_CHECK_TTL_S = 30.0
# Every model call runs on this one loop: LiteLLM's synchronous calls start a loop per call and
# so never reuse a pooled HTTP client (adapters/event_loop_thread.py).
LLM_CALLS = EventLoopThread("llm-calls")


class LiteLLMGateway(LLMGateway):
    def __init__(self, models_config: str | Path = "config/models.yaml", default_model: str = "",
                 timeout_s: float = 60.0, max_reply_chars: int = 200_000,
                 environ: Mapping[str, str] | None = None, max_routers: int = 64,
                 check_address: Callable[[str], None] = GuardedHttpClient().check_url,
                 images: RemoteImages | None = None):
        """`check_address(url)` raises OutboundRefused or OutboundFailed for an address a
        workspace's api_base may not reach (default: the outbound rules with no allowlist);
        `images` fetches the image URLs of messages under those rules (default: the same)."""
        self.catalogue: Catalogue = load_catalogue(models_config, environ)
        self.configured_default = default_model
        self.timeout_s = timeout_s
        self.max_reply_chars = max_reply_chars
        self.max_routers = max_routers
        self._litellm: Any = None
        self._routers: OrderedDict[str, Any] = OrderedDict()
        self._lock = threading.Lock()
        self._import_lock = threading.Lock()
        self._model_info: dict[str, dict] = {}
        self.check_address = check_address
        self.images = images or RemoteImages(GuardedHttpClient())
        self._checked_addresses = TtlCache(ADDRESS_CHECK_TTL_S)

    @classmethod
    def from_settings(cls, settings: Any, outbound: GuardedHttpClient,
                      local_model_url: str = "") -> LiteLLMGateway:
        """`local_model_url`: the local model server's base URL ("" when there is none);
        `outbound`: the address rules workspaces' api_base must follow."""
        environ = {**os.environ, LOCAL_URL_VARIABLE: local_model_url}
        return cls(settings.models_config, settings.default_model, settings.llm_timeout_s,
                   settings.llm_max_reply_chars, environ=environ, check_address=outbound.check_url,
                   images=RemoteImages(outbound))

    # --- catalogue ---------------------------------------------------------------------------

    def models(self, credentials: dict[str, ProviderCredential]) -> list[ModelInfo]:
        entries = self._entries(credentials)
        default = self.default_model(credentials)
        infos = []
        for name in self.catalogue.names:
            entry = entries[name]
            info = self._info(entry)
            infos.append(ModelInfo(
                id=name,
                provider=entry.provider,
                available=entry.unavailable_reason() is None,
                default=name == default,
                context_window=self.context_window(name),
                input_cost_per_token=self._price(entry, "input_cost_per_token"),
                output_cost_per_token=self._price(entry, "output_cost_per_token"),
                supports_vision=bool(entry.model_info.get("supports_vision",
                                                          info.get("supports_vision"))),
                supports_function_calling=bool(entry.model_info.get(
                    "supports_function_calling", info.get("supports_function_calling"))),
                mode=self._mode(entry),
            ))
        return infos

    def default_model(self, credentials: dict[str, ProviderCredential]) -> str:
        """The configured default when available, else the first available chat model."""
        entries = self._entries(credentials)
        available = self._available(entries)
        if self.configured_default in available:
            return self.configured_default
        available = [name for name in available if self._mode(entries[name]) != EMBEDDING]
        if available:
            return available[0]
        local = next((e.name for e in self.catalogue.entries if e.is_local), None)
        return local or LOCAL_MODEL

    def context_window(self, model: str) -> int:
        entry = self.catalogue.get(model)
        if entry is None:
            return DEFAULT_CONTEXT_WINDOW
        for source in (entry.model_info, self._info(entry)):
            window = source.get("max_input_tokens") or source.get("max_tokens")
            if window:
                return int(window)
        return DEFAULT_CONTEXT_WINDOW

    def count_tokens(self, model: str, messages: list[dict],
                     tools: list[dict] | None = None) -> int:
        entry = self.catalogue.get(model)
        try:
            return int(self._lib().token_counter(
                model=entry.litellm_model if entry else model, messages=messages,
                tools=tools or None))
        except Exception:  # an exotic message shape must not break a chat: estimate instead
            text = sum(len(str(m.get("content") or "")) for m in messages) + \
                (len(json.dumps(tools, default=str)) if tools else 0)
            return text // 4 + 4 * len(messages)

    # --- calls -------------------------------------------------------------------------------

    def complete(self, request: ChatRequest) -> ChatResult:
        requested, candidate, router, kwargs = self._prepare(request)
        started = time.perf_counter()
        try:
            response = LLM_CALLS.run(router.acompletion(model=candidate, **kwargs))
        except Exception as exc:
            raise upstream_error(exc, requested) from exc
        latency_ms = (time.perf_counter() - started) * 1000
        try:
            choice = response.choices[0]
            content = choice.message.content or ""
            tool_calls = [call.model_dump() for call in choice.message.tool_calls or []] or None
            answered = self._answered_by(response, candidate)
            usage = response.usage
            prompt_tokens = int(getattr(usage, "prompt_tokens", 0) or 0)
            completion_tokens = int(getattr(usage, "completion_tokens", 0) or 0)
        except (AttributeError, IndexError, TypeError, ValueError) as exc:
            raise UpstreamError("The model provider sent a malformed reply",
                                details={"model": requested}) from exc
        result = self._result(
            response_id=getattr(response, "id", None), requested=requested, answered=answered,
            content=content, tool_calls=tool_calls, finish_reason=choice.finish_reason,
            prompt_tokens=prompt_tokens or self.count_tokens(answered, request.messages),
            completion_tokens=completion_tokens or self._count_text(answered, content),
            latency_ms=latency_ms, ttft_ms=None)
        self._check_reply(content, tool_calls, requested, result.usage)
        return result

    def stream(self, request: ChatRequest) -> Iterator[StreamChunk]:
        """Errors before the first token (after retries and fallbacks) raise here, so a caller
        can still answer with a plain error; later errors raise while iterating."""
        requested, candidate, router, kwargs = self._prepare(request)
        started = time.perf_counter()
        try:
            response = LLM_CALLS.run(router.acompletion(
                model=candidate, stream=True, stream_options={"include_usage": True}, **kwargs))
        except Exception as exc:
            raise upstream_error(exc, requested) from exc
        return self._deltas(LLM_CALLS.iterate(response), request, requested, candidate, started)

    def _deltas(self, response, request: ChatRequest, requested: str, candidate: str,
                started: float) -> Iterator[StreamChunk]:
        parts: list[str] = []
        size = 0
        tool_calls: dict[int, dict] = {}
        answered, response_id, finish_reason, usage, ttft_ms = candidate, None, "stop", None, None
        try:
            for chunk in response:
                if response_id is None:
                    response_id = getattr(chunk, "id", None)
                    answered = self._answered_by(chunk, candidate)
                usage = getattr(chunk, "usage", None) or usage
                if not chunk.choices:
                    continue
                choice = chunk.choices[0]
                finish_reason = choice.finish_reason or finish_reason
                _merge_tool_calls(tool_calls, getattr(choice.delta, "tool_calls", None))
                text = choice.delta.content or ""
                if not text:
                    continue
                if ttft_ms is None:
                    ttft_ms = (time.perf_counter() - started) * 1000
                size += len(text)
                if size > self.max_reply_chars:
                    raise self._too_large(requested)
                parts.append(text)
                yield StreamChunk(delta=text)
        except UpstreamError:
            raise
        except Exception as exc:
            raise upstream_error(exc, requested) from exc
        finally:  # hang up now, stopped or failed: a kept error's traceback keeps this frame
            close = getattr(response, "close", None)
            if close is not None:
                close()
        content = "".join(parts)
        calls = [tool_calls[index] for index in sorted(tool_calls)] or None
        self._check_reply(content, calls, requested)
        prompt_tokens = int(getattr(usage, "prompt_tokens", 0) or 0)
        completion_tokens = int(getattr(usage, "completion_tokens", 0) or 0)
        yield StreamChunk(result=self._result(
            response_id=response_id, requested=requested, answered=answered, content=content,
            tool_calls=calls, finish_reason=finish_reason,
            prompt_tokens=prompt_tokens or self.count_tokens(answered, request.messages),
            completion_tokens=completion_tokens or self._count_text(answered, content),
            latency_ms=(time.perf_counter() - started) * 1000, ttft_ms=ttft_ms))

    def embed(self, request: EmbeddingRequest) -> EmbeddingResult:
        """Through the router like a chat call (credentials, fallbacks of the same mode, cooldowns);
        usage as the provider reports it, else counted with the model's tokenizer."""
        entry = self._known(request.model)
        if self._mode(entry) != EMBEDDING:
            raise InvalidParameter(f"The model '{request.model}' does not support embeddings",
                                   "model", "unsupported_model")
        candidates = self._candidates(request.model, request.credentials,
                                      lambda e: self._mode(e) == EMBEDDING)
        kwargs: dict[str, Any] = {"fallbacks": [{candidates[0]: candidates[1:]}],
                                  "drop_params": True}
        for name in ("dimensions", "user"):
            if getattr(request, name) is not None:
                kwargs[name] = getattr(request, name)
        started = time.perf_counter()
        try:
            response = LLM_CALLS.run(self._router(request.credentials).aembedding(
                model=candidates[0], input=request.input, **kwargs))
        except Exception as exc:
            raise upstream_error(exc, request.model) from exc
        latency_ms = (time.perf_counter() - started) * 1000
        try:
            rows = sorted(response.data, key=lambda row: _field(row, "index"))
            vectors = [list(_field(row, "embedding")) for row in rows]
        except (AttributeError, KeyError, TypeError, ValueError) as exc:
            raise UpstreamError("The model provider sent a malformed reply",
                                details={"model": request.model}) from exc
        if len(vectors) != len(request.input):
            raise UpstreamError("The model provider sent a vector count unlike the input's",
                                details={"model": request.model})
        answered = self._answered_by(response, candidates[0])
        tokens = int(getattr(getattr(response, "usage", None), "prompt_tokens", 0) or 0) or sum(
            self._count_text(answered, text) for text in request.input)
        answered_entry = self.catalogue.get(answered) or entry
        price = self._price(answered_entry, "input_cost_per_token") or 0.0
        return EmbeddingResult(model=answered, provider=answered_entry.provider, vectors=vectors,
                               usage=Usage(tokens, 0, tokens * price),
                               latency_ms=round(latency_ms, 1))

    def passed_params(self) -> frozenset[str]:
        return extra_params()

    def warm_up(self) -> None:
        """Imports LiteLLM (~2 s of CPU) and makes one whole and one streamed call through the
        default model's router with LiteLLM's `mock_response` (no provider is reached), which
        loads the rest of its call path (~0.5 s more on a first call). Best effort: a failure
        is logged and left to the first real call."""
        try:
            model = self.default_model({})
            messages = [{"role": "user", "content": "warm up"}]
            self.count_tokens(model, messages)
            extra_params()
            entry = self.catalogue.get(model)
            if entry is None or entry.unavailable_reason() is not None:
                return
            router = self._router({})
            LLM_CALLS.run(router.acompletion(model=model, messages=messages, mock_response="ok"))
            for _chunk in LLM_CALLS.iterate(LLM_CALLS.run(router.acompletion(
                    model=model, messages=messages, mock_response="ok", stream=True))):
                pass
        except Exception:
            log.warning("could not warm up the model gateway", exc_info=True)

    # --- helpers -----------------------------------------------------------------------------

    def _prepare(self, request: ChatRequest) -> tuple[str, str, Any, dict[str, Any]]:
        """The requested model, the model to call first, its router and the call's arguments
        (messages included, their image URLs fetched and inlined).

        A requested model without credentials starts at its first available fallback, as the
        router would after an authentication error, minus the doomed call."""
        requested = request.model or self.default_model(request.credentials)
        entry = self._known(requested)
        if self._mode(entry) == EMBEDDING:
            raise InvalidParameter(f"'{requested}' is an embedding model: it answers POST "
                                   "/v1/embeddings, not chat", "model", "unsupported_model")
        passed = extra_params()
        extra = {k: v for k, v in request.extra.items() if k in passed}
        unsafe_locally = _unsafe_for_local_model(extra)
        if entry.is_local and unsafe_locally:
            raise ValidationFailed(f"{requested} does not take {unsafe_locally}",
                                   details={"model": [f"{requested} does not take {unsafe_locally}."]})
        candidates = self._candidates(requested, request.credentials,
                                      lambda e: not (unsafe_locally and e.is_local))
        kwargs: dict[str, Any] = {"fallbacks": [{candidates[0]: candidates[1:]}], "drop_params": True,
                                  "messages": self.images.inline(request.messages)}
        for name in ("temperature", "max_tokens", "stop"):
            if getattr(request, name) is not None:
                kwargs[name] = getattr(request, name)
        kwargs.update(extra)
        if kwargs.get("tools"):
            # litellm routes any call with tools through its MCP gateway check, which
            # imports the optional `mcp` package; ours are plain function tools.
            kwargs["_skip_mcp_handler"] = True
        return requested, candidates[0], self._router(request.credentials), kwargs

    def _known(self, name: str) -> ModelEntry:
        entry = self.catalogue.get(name)
        if entry is None:
            raise UnknownModel(f"Unknown model '{name}'",
                               details={"model": [f"Unknown model '{name}'"]})
        return entry

    def _mode(self, entry: ModelEntry) -> str:
        """LiteLLM's mode of the model: the catalogue's `model_info.mode`, else the cost map's."""
        return str(entry.model_info.get("mode") or self._info(entry).get("mode") or "chat")

    def _candidates(self, requested: str, credentials: dict[str, ProviderCredential],
                    allowed: Callable[[ModelEntry], bool]) -> list[str]:
        """The requested model and its fallbacks that can be called now, in order (UpstreamError
        when none can)."""
        entries = self._entries(credentials)
        available = self._available(entries)
        chain = [name for name in [requested, *self.catalogue.fallbacks_of(requested)]
                 if allowed(entries[name])]
        refused = {name: self._address_refused(entries[name]) for name in chain if name in available}
        candidates = [name for name in dict.fromkeys(chain) if name in available and not refused[name]]
        if not candidates:
            reason = refused.get(requested) or entries[requested].unavailable_reason()
            raise UpstreamError(f"Model {requested} is not available: {reason}",
                                details={"model": requested})
        return candidates

    def _address_refused(self, entry: ModelEntry) -> str | None:
        """Why a workspace's api_base may not be called now (None: it may). Checked at call time,
        not only when saved: a name can resolve elsewhere later. Good answers are kept briefly."""
        base = entry.litellm_params.get("api_base")
        if not entry.workspace_address or not base:
            return None
        try:
            self._checked_addresses.get_or_load(base, lambda: self.check_address(base) or True)
        except (OutboundRefused, OutboundFailed) as problem:
            return f"the workspace's {entry.provider} api_base is refused: {problem.message}"
        return None

    def _result(self, *, response_id: str | None, requested: str, answered: str, content: str,
                tool_calls: list | None, finish_reason: str | None, prompt_tokens: int,
                completion_tokens: int, latency_ms: float, ttft_ms: float | None) -> ChatResult:
        entry = self.catalogue.get(answered)
        cost = 0.0
        if entry is not None:
            cost = (prompt_tokens * (self._price(entry, "input_cost_per_token") or 0.0)
                    + completion_tokens * (self._price(entry, "output_cost_per_token") or 0.0))
        return ChatResult(
            id=response_id or f"chatcmpl-{uuid.uuid4().hex}",
            model=answered,
            provider=entry.provider if entry else answered.split("/", 1)[0],
            content=content,
            usage=Usage(prompt_tokens, completion_tokens, cost),
            latency_ms=round(latency_ms, 1),
            ttft_ms=round(ttft_ms, 1) if ttft_ms is not None else None,
            fallback_used=answered != requested,
            finish_reason=finish_reason or "stop",
            tool_calls=tool_calls,
        )

    def _check_reply(self, content: str, tool_calls: list | None, model: str,
                     usage: Usage | None = None) -> None:
        if len(content) > self.max_reply_chars:
            raise self._too_large(model, usage)
        if not content and not tool_calls:
            raise UpstreamError("The model provider sent an empty or unreadable reply",
                                details={"model": model})

    def _too_large(self, model: str, usage: Usage | None = None) -> ReplyTooLarge:
        return ReplyTooLarge(f"The model's reply exceeded {self.max_reply_chars} characters",
                             details={"model": model}, usage=usage)

    @staticmethod
    def _answered_by(response: Any, fallback: str) -> str:
        """The router reports which deployment answered: its id starts "<model_name>#"."""
        model_id = (getattr(response, "_hidden_params", None) or {}).get("model_id")
        return model_id.rsplit("#", 1)[0] if isinstance(model_id, str) and "#" in model_id else fallback

    def _count_text(self, model: str, text: str) -> int:
        if not text:
            return 0
        entry = self.catalogue.get(model)
        try:
            return int(self._lib().token_counter(model=entry.litellm_model if entry else model,
                                                 text=text))
        except Exception:
            return len(text) // 4 + 1

    def _deployments(self, credentials: dict[str, ProviderCredential]) -> list[ModelEntry]:
        """Every catalogue entry, with the workspace's credentials in place of the server's."""
        keys = {provider_key(name): credential for name, credential in (credentials or {}).items()}
        deployments = []
        for entry in self.catalogue.entries:
            credential = keys.get(entry.provider)
            if credential is not None:
                scope = _fingerprint({entry.provider: credential}, {entry.provider})[:16]
                entry = entry.with_credential(credential.api_key, credential.api_base, scope)
            deployments.append(entry)
        return deployments

    def _entries(self, credentials: dict[str, ProviderCredential]) -> dict[str, ModelEntry]:
        entries: dict[str, ModelEntry] = {}
        for entry in self._deployments(credentials):
            entries.setdefault(entry.name, entry)
        return entries

    def _available(self, entries: dict[str, ModelEntry]) -> list[str]:
        return [name for name, entry in entries.items() if entry.unavailable_reason() is None]

    def _router(self, credentials: dict[str, ProviderCredential]) -> Any:
        fingerprint = _fingerprint(credentials, {e.provider for e in self.catalogue.entries})
        with self._lock:
            router = self._routers.get(fingerprint)
            if router is None:
                router = self._build_router(self._deployments(credentials))
                self._routers[fingerprint] = router
                while len(self._routers) > self.max_routers:
                    self._routers.popitem(last=False)
            self._routers.move_to_end(fingerprint)
            return router

    def _build_router(self, deployments: list[ModelEntry]) -> Any:
        # LiteLLM keeps cooldowns and failure counts per deployment id across every Router of the
        # process: a deployment on a workspace's credential gets an id of its own, so its failures
        # never shut out the server's deployment or another workspace's (a shared credential
        # shares its state, as the provider does).
        model_list = [
            {"model_name": entry.name, "litellm_params": entry.litellm_params,
             "model_info": {**entry.model_info, "id": _deployment_id(entry, index)}}
            for index, entry in enumerate(deployments) if entry.unavailable_reason() is None
        ]
        settings = {k: v for k, v in self.catalogue.router_settings.items() if k != "fallbacks"}
        settings.setdefault("timeout", self.timeout_s)
        return self._lib().Router(model_list=model_list, **settings)

    def _info(self, entry: ModelEntry) -> dict:
        """LiteLLM's cost map entry for the model ({} when it is not in the map)."""
        if entry.name not in self._model_info:
            try:
                info = dict(self._lib().get_model_info(entry.litellm_model))
            except Exception:
                info = {}
            self._model_info[entry.name] = info
        return self._model_info[entry.name]

    def _price(self, entry: ModelEntry, kind: str) -> float | None:
        explicit = entry.price(kind)
        if explicit is not None:
            return explicit
        value = self._info(entry).get(kind)
        return float(value) if value is not None else None

    def _lib(self) -> Any:
        with self._import_lock:
            if self._litellm is None:
                self._litellm = _import_litellm()
        return self._litellm


LITELLM_LOGGERS = ("LiteLLM", "LiteLLM Router", "LiteLLM Proxy")


def _import_litellm() -> Any:
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    import litellm

    # LiteLLM's loggers carry their own stderr handler and log every routed call at INFO: each
    # line would be written twice (theirs and our JSON one) on every call. Warnings and errors
    # still reach the app's log, once, as JSON.
    for name in LITELLM_LOGGERS:
        logger = logging.getLogger(name)
        logger.handlers.clear()
        logger.setLevel(logging.WARNING)
    litellm.suppress_debug_info = True
    # Usage and cost are metered here, not by LiteLLM callbacks (none is configured): its
    # per-chunk hand-off of every streamed chunk to a logging thread is pure cost (~15% of a
    # stream's CPU, bench.gateway_overhead).
    litellm.disable_streaming_logging = True
    litellm.disable_hf_tokenizer_download = True  # token counts use tiktoken: no downloads
    return litellm


def _unsafe_for_local_model(extra: dict[str, Any]) -> str | None:
    """What the local llama.cpp server must not be sent, or None. It compiles tools and JSON
    schemas into grammars, and some grammars crash it (a pattern with a large repetition count
    segfaults llama_cpp.server 0.3.36), which would fail every local reply in flight."""
    if any(extra.get(name) for name in ("tools", "tool_choice", "functions", "function_call")):
        return "tools"
    if extra.get("response_format") not in (None, {"type": "text"}, {"type": "json_object"}):
        return "a response_format with a schema"
    return None


def _deployment_id(entry: ModelEntry, index: int) -> str:
    """"<model_name>#<index>", plus "@<credential scope>" on a workspace's credential."""
    suffix = f"@{entry.credential_scope}" if entry.credential_scope else ""
    return f"{entry.name}#{index}{suffix}"


def _fingerprint(credentials: dict[str, ProviderCredential], providers: set[str]) -> str:
    relevant = sorted(
        (provider_key(name), c.api_key or "", c.api_base or "")
        for name, c in (credentials or {}).items() if provider_key(name) in providers
    )
    return hashlib.sha256(repr(relevant).encode()).hexdigest()


def _field(row: Any, name: str) -> Any:
    """A field of a LiteLLM response row, which may be a dict or an object."""
    return row[name] if isinstance(row, dict) else getattr(row, name)


def _merge_tool_calls(calls: dict[int, dict], deltas: Any) -> None:
    """Streamed tool calls arrive in pieces keyed by index: join their arguments."""
    for delta in deltas or []:
        call = calls.setdefault(delta.index or 0, {"id": None, "type": "function",
                                                   "function": {"name": "", "arguments": ""}})
        call["id"] = delta.id or call["id"]
        function = getattr(delta, "function", None)
        if function is not None:
            call["function"]["name"] += function.name or ""
            call["function"]["arguments"] += function.arguments or ""
