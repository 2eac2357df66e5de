"""A local OpenAI-compatible model provider for tests and benchmarks.

LiteLLM reaches it like any real provider (`openai/<name>` with `api_base=server.url`).
Behaviour is set per model name (`server.behave("mock-primary", status=500)`) or for every
model (`server.behave(None, ...)`); `reset()` restores the defaults and forgets requests.
"""
from __future__ import annotations

import hashlib
import json
import re
import threading
import time
import uuid
from dataclasses import dataclass, replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import yaml

PRIMARY = "mock-primary"
FALLBACK = "mock-fallback"
INPUT_COST = 0.000001
OUTPUT_COST = 0.000002
JUNK = "<html>this is {not json"


@dataclass(frozen=True)
class Behaviour:
    reply: str | None = None  # None: "Echo: <last user message>"
    token_delay: float = 0.0  # seconds between streamed tokens
    status: int | None = None  # e.g. 429 or 500
    retry_after: int | None = None  # Retry-After header with a 429
    junk: bool = False  # a 200 whose body is not JSON
    body: str | None = None  # a raw 200 body instead of an answer (JSON of the wrong shape...)
    hang: float = 0.0  # seconds to wait before answering (longer than the client timeout)
    times: int | None = None  # apply status/junk/body/hang this many times, then answer normally
    call_tools: bool = False  # with `tools` and no tool result yet: call the first tool
    call_tools_always: bool = False  # with `tools`: call the first tool, even after results
    tool_arguments: dict | None = None  # the arguments of the call (default {"q": user text})
    tool_call_count: int = 1  # how many calls (of the same tool, each its own id) one answer makes
    tool_call_id: str | None = None  # every call's id (default: a new one each); "" for none


EMBEDDING_DIMENSIONS = 8


def embedding(text: str, dimensions: int = EMBEDDING_DIMENSIONS) -> list[float]:
    """A deterministic vector for `text` (the same text, the same vector)."""
    digest = hashlib.sha256(text.encode()).digest()
    return [round(byte / 255, 6) for byte in digest[:dimensions]]


def tool_call_for(body: dict, behaviour: Behaviour | None = None) -> dict | None:
    """The call a `call_tools` mock makes: the first tool, with `tool_arguments` (default the
    last user text as `q`), unless the conversation already has a tool result (then it answers
    in words) and the mock is not told to `call_tools_always`."""
    behaviour = behaviour or Behaviour(call_tools=True)
    tools = body.get("tools") or []
    messages = body.get("messages") or []
    answered = any(m.get("role") == "tool" for m in messages)
    if not tools or (answered and not behaviour.call_tools_always):
        return None
    name = tools[0]["function"]["name"]
    arguments = behaviour.tool_arguments
    if arguments is None:
        arguments = {"q": last_user_text(messages)}
    call_id = f"call_{uuid.uuid4().hex[:12]}" if behaviour.tool_call_id is None \
        else behaviour.tool_call_id
    return {"id": call_id, "type": "function",
            "function": {"name": name, "arguments": json.dumps(arguments)}}


def tool_result_text(messages: list[dict]) -> str | None:
    results = [m for m in messages if m.get("role") == "tool"]
    return f"The tool said: {results[-1].get('content')}" if results else None


def tokens(text: str) -> list[str]:
    return re.findall(r"\s*\S+", text) or [text]


def last_user_text(messages: list[dict]) -> str:
    for message in reversed(messages):
        if message.get("role") == "user":
            content = message.get("content")
            if isinstance(content, list):
                return " ".join(p.get("text", "") for p in content if isinstance(p, dict))
            return str(content or "")
    return ""


def count_prompt_tokens(messages: list[dict]) -> int:
    return sum(len(tokens(str(m.get("content") or ""))) for m in messages) + 3 * len(messages)


class MockProvider:
    def __init__(self, host: str = "127.0.0.1"):
        self.requests: list[dict] = []  # bodies of POST /chat/completions, oldest first
        self.embedding_requests: list[dict] = []  # bodies of POST /embeddings
        self.request_headers: list[dict[str, str]] = []  # same order as `requests`
        self.connections = 0  # TCP connections accepted
        self._behaviours: dict[str | None, Behaviour] = {}
        self._failures: dict[str | None, int] = {}
        self._lock = threading.Lock()
        self._wake = threading.Event()  # ends hangs early on reset()/close()
        self._server = ThreadingHTTPServer((host, 0), _handler(self))
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    @property
    def port(self) -> int:
        return self._server.server_address[1]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def behave(self, model: str | None = None, **changes: Any) -> None:
        """Set how `model` (None: every model without its own setting) answers."""
        with self._lock:
            self._behaviours[model] = replace(self._behaviours.get(model, Behaviour()), **changes)
            self._failures.pop(model, None)

    def reset(self) -> None:
        self._wake.set()
        with self._lock:
            self._behaviours.clear()
            self._failures.clear()
            self.requests.clear()
            self.embedding_requests.clear()
            self.request_headers.clear()
            self.connections = 0
        self._wake = threading.Event()

    def close(self) -> None:
        self._wake.set()
        self._server.shutdown()
        self._server.server_close()

    def calls(self, model: str) -> list[dict]:
        return [body for body in self.requests if body.get("model") == model]

    def _record(self, body: dict, headers: dict[str, str]) -> tuple[Behaviour, bool]:
        """Stores the request; returns the behaviour and whether its failure applies now."""
        model = body.get("model")
        with self._lock:
            self.requests.append(body)
            self.request_headers.append(headers)
            key = model if model in self._behaviours else None
            behaviour = self._behaviours.get(key, Behaviour())
            used = self._failures.get(key, 0)
            failing = behaviour.times is None or used < behaviour.times
            self._failures[key] = used + 1
        return behaviour, failing

    def models(self) -> list[str]:
        with self._lock:
            named = [name for name in self._behaviours if name]
        return sorted({PRIMARY, FALLBACK, *named})

    def write_catalogue(self, path: str | Path, timeout: float = 2.0, num_retries: int = 0,
                        extra_models: list[dict] | None = None) -> Path:
        """A models.yaml pointing LiteLLM at this server: primary -> fallback."""
        path = Path(path)
        models = [self._entry(PRIMARY), self._entry(FALLBACK), *(extra_models or [])]
        catalogue = {
            "model_list": models,
            "router_settings": {
                "num_retries": num_retries,
                "timeout": timeout,
                "retry_after": 0,
                "allowed_fails": 1000,
                "cooldown_time": 0.1,
                "fallbacks": [{f"openai/{PRIMARY}": [f"openai/{FALLBACK}"]}],
            },
        }
        path.write_text(yaml.safe_dump(catalogue, sort_keys=False))
        return path

    def embedding_entry(self, name: str = "mock-embed") -> dict:
        """A catalogue entry for an embedding model on this server (`mode: embedding`)."""
        entry = self._entry(name)
        entry["model_info"] = {**entry["model_info"], "mode": "embedding"}
        entry["litellm_params"]["output_cost_per_token"] = 0
        return entry

    def _entry(self, name: str) -> dict:
        return {
            "model_name": f"openai/{name}",
            "litellm_params": {
                "model": f"openai/{name}",
                "api_base": self.url,
                "api_key": "test",
                "input_cost_per_token": INPUT_COST,
                "output_cost_per_token": OUTPUT_COST,
            },
            # the primary calls functions (agents with tools), the fallback does not
            "model_info": {"max_input_tokens": 8192,
                           "supports_function_calling": name != FALLBACK},
        }


def _handler(provider: MockProvider) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: Any) -> None:
            pass

        def setup(self) -> None:
            super().setup()
            with provider._lock:
                provider.connections += 1

        def do_GET(self) -> None:
            if self.path.rstrip("/").endswith("/models"):
                data = [{"id": name, "object": "model", "created": 0, "owned_by": "mock"}
                        for name in provider.models()]
                return self._json(200, {"object": "list", "data": data})
            self._json(404, _error("not found", "not_found"))

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length)
            if self.path.rstrip("/").endswith("/embeddings"):
                return self._embeddings(json.loads(raw or b"{}"))
            if not self.path.rstrip("/").endswith("/chat/completions"):
                return self._json(404, _error("not found", "not_found"))
            try:
                body = json.loads(raw or b"{}")
            except ValueError:
                return self._json(400, _error("invalid JSON", "invalid_request_error"))
            headers = {k.lower(): v for k, v in self.headers.items()}
            behaviour, failing = provider._record(body, headers)
            try:
                self._answer(body, behaviour, failing)
            except (BrokenPipeError, ConnectionResetError):
                self.close_connection = True

        def _embeddings(self, body: dict) -> None:
            with provider._lock:
                provider.embedding_requests.append(body)
            texts = body.get("input")
            texts = [texts] if isinstance(texts, str) else texts or []
            size = body.get("dimensions") or EMBEDDING_DIMENSIONS
            used = sum(len(tokens(text)) for text in texts)
            self._json(200, {
                "object": "list", "model": body.get("model"),
                "data": [{"object": "embedding", "index": index, "embedding": embedding(text, size)}
                         for index, text in enumerate(texts)],
                "usage": {"prompt_tokens": used, "total_tokens": used}})

        def _answer(self, body: dict, behaviour: Behaviour, failing: bool) -> None:
            if failing and behaviour.hang:
                provider._wake.wait(behaviour.hang)
            if failing and behaviour.status:
                extra = {"Retry-After": str(behaviour.retry_after)} if behaviour.retry_after else {}
                kind = "rate_limit_exceeded" if behaviour.status == 429 else "server_error"
                return self._json(behaviour.status, _error(f"mock {behaviour.status}", kind), extra)
            if failing and (behaviour.junk or behaviour.body is not None):
                raw = JUNK if behaviour.junk else behaviour.body
                return self._raw(200, raw.encode(), "application/json")
            messages = body.get("messages") or []
            call = tool_call_for(body, behaviour) if behaviour.call_tools else None
            reply = behaviour.reply if behaviour.reply is not None else (
                tool_result_text(messages) or f"Echo: {last_user_text(messages)}")
            if call is not None:
                reply = ""
            usage = {"prompt_tokens": count_prompt_tokens(messages),
                     "completion_tokens": len(tokens(reply))}
            usage["total_tokens"] = usage["prompt_tokens"] + usage["completion_tokens"]
            if body.get("stream"):
                include_usage = bool((body.get("stream_options") or {}).get("include_usage"))
                return self._stream(body["model"], reply, usage if include_usage else None,
                                    behaviour.token_delay, call)
            message: dict[str, Any] = {"role": "assistant", "content": reply or None}
            if call is not None:
                message["tool_calls"] = [
                    {**call, "id": f"{call['id']}_{n}"} if n and behaviour.tool_call_id is None
                    else call for n in range(behaviour.tool_call_count)]
            self._json(200, {
                "id": f"chatcmpl-{uuid.uuid4().hex}",
                "object": "chat.completion",
                "created": int(time.time()),
                "model": body.get("model"),
                "choices": [{"index": 0, "finish_reason": "tool_calls" if call else "stop",
                             "message": message}],
                "usage": usage,
            })

        def _stream(self, model: str, reply: str, usage: dict | None, delay: float,
                    call: dict | None = None) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream")
            self.send_header("Cache-Control", "no-cache")
            # chunked, so the connection stays open for the next call, as a provider's does
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            base = {"id": f"chatcmpl-{uuid.uuid4().hex}", "object": "chat.completion.chunk",
                    "created": int(time.time()), "model": model}

            def send(payload: dict | str) -> None:
                data = payload if isinstance(payload, str) else json.dumps(payload)
                event = f"data: {data}\n\n".encode()
                self.wfile.write(b"%x\r\n%s\r\n" % (len(event), event))
                self.wfile.flush()

            send({**base, "choices": [{"index": 0, "delta": {"role": "assistant", "content": ""},
                                       "finish_reason": None}]})
            for piece in tokens(reply) if reply else []:
                if delay:
                    time.sleep(delay)
                send({**base, "choices": [{"index": 0, "delta": {"content": piece},
                                           "finish_reason": None}]})
            if call is not None:
                send({**base, "choices": [{"index": 0, "finish_reason": None, "delta": {
                    "tool_calls": [{"index": 0, **call}]}}]})
            send({**base, "choices": [{"index": 0, "delta": {},
                                       "finish_reason": "tool_calls" if call else "stop"}]})
            if usage is not None:
                send({**base, "choices": [], "usage": usage})
            send("[DONE]")
            self.wfile.write(b"0\r\n\r\n")

        def _json(self, status: int, payload: dict, headers: dict | None = None) -> None:
            self._raw(status, json.dumps(payload).encode(), "application/json", headers)

        def _raw(self, status: int, data: bytes, content_type: str,
                 headers: dict | None = None) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(data)))
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(data)

    return Handler


def _error(message: str, code: str) -> dict:
    return {"error": {"message": message, "type": code, "code": code}}
