"""What each node type does once its config has been resolved.

A handler gets a NodeContext and returns the node's output, or raises. NodeError says whether a
retry may help; DomainErrors from the ports are retryable when they come from the remote side
(provider or remote URL down, slow or rate limiting) and final otherwise (refused URL, budget
spent, file not found).
"""
from __future__ import annotations

import contextlib
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from entities.errors import DomainError, RateLimited, UpstreamError
from entities.llm import ChatRequest
from entities.workflow import Execution, Node
from use_cases.gateway.llm_chat import LLMChat
from use_cases.shared.ports import OutboundHttp
from use_cases.workflows.ports import FileTexts, JsonQuery, TemplateRenderer


class NodeError(Exception):
    def __init__(self, message: str, retryable: bool = False):
        super().__init__(message)
        self.message = message
        self.retryable = retryable


def is_retryable(error: BaseException) -> bool:
    if isinstance(error, NodeError):
        return error.retryable
    return isinstance(error, UpstreamError | RateLimited | TimeoutError)


def describe(error: BaseException) -> str:
    if isinstance(error, NodeError | DomainError):
        return error.message
    return "internal error in the node"


@dataclass
class NodeContext:
    execution: Execution
    node: Node
    config: dict[str, Any]  # resolved, except the keys the handler renders itself
    variables: dict[str, Any]  # input fields and {node_id: {"output": ...}} of finished nodes
    upstream: dict[str, Any]  # outputs of the nodes with an edge into this one (not skipped)
    timeout_s: float
    emit_delta: Callable[[str], None] = lambda text: None
    cancelled: Callable[[], bool] = lambda: False


RENDERED_BY_HANDLER = {"template": ("template",), "input": ("fields",)}


@dataclass(frozen=True)
class NodeLimits:
    http_max_bytes: int = 1024 * 1024
    file_max_chars: int = 200_000


@dataclass
class NodeHandlers:
    renderer: TemplateRenderer
    json_query: JsonQuery
    llm: LLMChat  # access, budget and usage as for any chat
    http: OutboundHttp
    files: FileTexts
    limits: NodeLimits = field(default_factory=NodeLimits)

    def handler(self, node_type: str) -> Callable[[NodeContext], Any]:
        return getattr(self, f"run_{node_type}")

    def run_input(self, ctx: NodeContext) -> Any:
        return dict(ctx.execution.inputs)

    def run_template(self, ctx: NodeContext) -> str:
        try:
            return self.renderer.render(ctx.config["template"], ctx.variables)
        except ValueError as error:
            raise NodeError(str(error)) from None

    def run_llm(self, ctx: NodeContext) -> str:
        config = ctx.config
        messages = []
        if config.get("system_prompt"):
            messages.append({"role": "system", "content": _text(config["system_prompt"])})
        messages.append({"role": "user", "content": _text(config["prompt"])})
        request = ChatRequest(messages=messages, model=config["model"],
                              temperature=config.get("temperature"),
                              max_tokens=config.get("max_tokens"))
        chunks = self.llm.chat_stream(ctx.execution.created_by, ctx.execution.workspace_id,
                                      request, source="workflow")
        parts, result = [], None
        try:
            for chunk in chunks:
                if ctx.cancelled():
                    raise NodeError("cancelled")
                if chunk.delta:
                    parts.append(chunk.delta)
                    ctx.emit_delta(chunk.delta)
                if chunk.result is not None:
                    result = chunk.result
        finally:
            close = getattr(chunks, "close", None)
            if close:
                close()
        return "".join(parts) or (result.content if result else "")

    def run_condition(self, ctx: NodeContext) -> bool:
        return compare(ctx.config.get("value"), ctx.config["operator"], ctx.config.get("compare_to"))

    def run_http_request(self, ctx: NodeContext) -> dict:
        config = ctx.config
        headers = {str(k): _text(v) for k, v in (config.get("headers") or {}).items()}
        body = config.get("body")
        if body is not None and not isinstance(body, str):
            body = json.dumps(body)
            if not any(name.lower() == "content-type" for name in headers):
                headers["Content-Type"] = "application/json"
        response = self.http.request(config["method"], _text(config["url"]), headers,
                                     body.encode() if body is not None else None,
                                     timeout_s=ctx.timeout_s, max_bytes=self.limits.http_max_bytes)
        return {"status": response.status, "headers": response.headers,
                "body": _decode(response.body, response.headers.get("content-type", ""))}

    def run_json_extract(self, ctx: NodeContext) -> Any:
        source = ctx.config.get("source")
        if isinstance(source, str):
            with contextlib.suppress(ValueError):
                source = json.loads(source)
        try:
            found = self.json_query.find(source, _text(ctx.config["path"]))
        except ValueError as error:
            raise NodeError(str(error)) from None
        if not found:
            return None
        return found[0] if len(found) == 1 else found

    def run_file_text(self, ctx: NodeContext) -> str:
        file_id = _text(ctx.config.get("file_id")).strip()
        if not file_id:
            raise NodeError("Choose the file this node reads (config.file_id)")
        return self.files.text_of(ctx.execution.workspace_id, file_id, self.limits.file_max_chars)

    def run_output(self, ctx: NodeContext) -> dict:
        if "outputs" in ctx.config:
            return dict(ctx.config["outputs"])
        return dict(ctx.upstream)


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    return json.dumps(value, default=str)


def _decode(body: bytes, content_type: str) -> Any:
    text = body.decode("utf-8", errors="replace")
    if "json" in content_type.lower():
        try:
            return json.loads(text)
        except ValueError:
            return text
    return text


def _number(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value.strip())
        except ValueError:
            return None
    return None


def _boolean(value: Any) -> Any:
    if isinstance(value, str) and value.strip().lower() in ("true", "false"):
        return value.strip().lower() == "true"
    return value


def _equal(a: Any, b: Any) -> bool:
    na, nb = _number(a), _number(b)
    if na is not None and nb is not None:
        return na == nb
    if isinstance(a, bool) or isinstance(b, bool):
        return _boolean(a) == _boolean(b)
    if isinstance(a, dict | list) or isinstance(b, dict | list):
        return a == b
    return _text(a) == _text(b)


def _empty(value: Any) -> bool:
    if value is None:
        return True
    if isinstance(value, str):
        return not value.strip()
    if isinstance(value, dict | list):
        return not value
    return False


def compare(value: Any, operator: str, compare_to: Any = None) -> bool:
    if operator == "empty":
        return _empty(value)
    if operator == "not_empty":
        return not _empty(value)
    if operator == "equals":
        return _equal(value, compare_to)
    if operator == "not_equals":
        return not _equal(value, compare_to)
    if operator == "contains":
        if isinstance(value, list):
            return any(_equal(item, compare_to) for item in value)
        if isinstance(value, dict):
            return _text(compare_to) in value
        return value is not None and _text(compare_to) in _text(value)
    left, right = _number(value), _number(compare_to)
    if left is None or right is None:
        raise NodeError(f"{operator} compares numbers; got {_text(value)[:50]!r} and "
                        f"{_text(compare_to)[:50]!r}")
    return left > right if operator == "gt" else left < right
