"""`http_request`: calls a public URL through the outbound HTTP port (which refuses private
addresses). Published as a template, every credential in its headers (names and values), URL
(credentials, query parameters, path) and body (JSON, or a string read as JSON or a form when it
parses as one) becomes a named placeholder (secret_stripping)."""
from __future__ import annotations

import json
from typing import Any, Self

from use_cases.shared.ports import OutboundHttp
from use_cases.workflows.nodes.base import (
    ANY_VALUE,
    NodeContext,
    NodeRole,
    NodeServices,
    NodeType,
    as_text,
    strict_schema,
)
from use_cases.workflows.ports import JsonQuery
from use_cases.workflows.secret_stripping import SecretStripper


class HttpRequestNode(NodeType):
    type = "http_request"
    title = "HTTP request"
    description = ("Calls a public URL. Private, loopback, link-local and metadata addresses are "
                   "refused (after DNS resolution, and on every redirect) unless allow-listed by "
                   "the server.")
    output = "{status, headers, body} (body parsed when the response is JSON)"
    config_schema = strict_schema(
        {"method": {"enum": ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD"]},
         "url": {"type": "string", "minLength": 1, "maxLength": 8000},
         "headers": {"type": "object", "maxProperties": 50,
                     "additionalProperties": {"type": "string", "maxLength": 8000}},
         "body": ANY_VALUE},
        ("method", "url"))
    role = NodeRole.STEP
    renders_itself = ()
    literal_keys = ()

    def __init__(self, http: OutboundHttp, max_bytes: int):
        self.http = http
        self.max_bytes = max_bytes

    @classmethod
    def build(cls, services: NodeServices) -> Self:
        return cls(services.http, services.limits.http_max_bytes)

    @classmethod
    def config_problems(cls, config: dict[str, Any], paths: JsonQuery) -> list[str]:
        return []  # the URL is checked when the node runs, after its expressions are resolved

    @classmethod
    def publish(cls, config: dict[str, Any], secrets: SecretStripper) -> dict[str, Any]:
        """Headers by their name and value (`X-Api-Key: k` -> `{{ secret.header_x_api_key }}`),
        the URL by its parts, the body by what it is."""
        if isinstance(config.get("headers"), dict):
            config["headers"] = {name: secrets.header(str(name), value)
                                 if isinstance(value, str) else value
                                 for name, value in config["headers"].items()}
        if isinstance(config.get("url"), str):
            config["url"] = secrets.url(config["url"])
        if "body" in config:
            config["body"] = secrets.body(config["body"])
        return config

    def run(self, ctx: NodeContext) -> dict:
        config = ctx.config
        headers = {str(k): as_text(v) for k, v in (config.get("headers") or {}).items()}
        body = config.get("body")
        if body is not None and not isinstance(body, str):
            body = json.dumps(body)
            if not any(name.lower() == "content-type" for name in headers):
                headers["Content-Type"] = "application/json"
        response = self.http.request(config["method"], as_text(config["url"]), headers,
                                     body.encode() if body is not None else None,
                                     timeout_s=ctx.timeout_s, max_bytes=self.max_bytes)
        return {"status": response.status, "headers": response.headers,
                "body": _decode(response.body, response.headers.get("content-type", ""))}


def _decode(body: bytes, content_type: str) -> Any:
    text = body.decode("utf-8", errors="replace")
    if "json" in content_type.lower():
        try:
            return json.loads(text)
        except (ValueError, RecursionError):  # RecursionError: nested deeper than Python parses
            return text
    return text
