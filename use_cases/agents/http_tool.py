"""`http` tools: one HTTP endpoint the model may call with arguments (sent as the query string
for GET, HEAD and DELETE, else as a JSON body), through the outbound-address rules of
`http_request` nodes (no private, loopback, link-local or metadata address, after DNS and on
every redirect); the response is cut at the size cap. Header values are stored encrypted and
shown masked; a masked value sent back on a save keeps the stored one, but only while the url
keeps its origin (scheme, host, port), as for `mcp` tools: whoever may edit the agent cannot
point a url at their own server and have the stored credentials sent there (422). The query
parameters written in the url are the tool's author's: arguments of the same names are refused
(the model, steered by whoever talks to it, cannot switch `?account=` under stored credentials)."""
from __future__ import annotations

import contextlib
import json
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from marshmallow import fields, validate

from entities.agent import ToolResult
from entities.errors import ValidationFailed
from entities.outbound import OutboundFailed
from use_cases.agents.secret_headers import STORED, opened, seal, shown
from use_cases.agents.tools import BaseToolSchema, ToolContext, ToolError, ToolKind, ToolScope
from use_cases.shared.ports import Encryptor, OutboundHttp

METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE", "HEAD")
IN_QUERY = ("GET", "HEAD", "DELETE")
MAX_RESULT_CHARS = 20_000


class HttpToolSchema(BaseToolSchema):
    type = fields.String(required=True, validate=validate.Equal("http"))
    method = fields.String(load_default="GET", validate=validate.OneOf(METHODS))
    url = fields.String(required=True, validate=validate.Length(min=1, max=8000))
    headers = fields.Dict(keys=fields.String(validate=validate.Length(min=1, max=200)),
                          values=fields.String(validate=validate.Length(max=8000)),
                          load_default=dict, validate=validate.Length(max=50))
    parameters = fields.Dict(load_default=lambda: {"type": "object", "properties": {}})


class HttpTool(ToolKind):
    type = "http"
    config_schema = HttpToolSchema

    def __init__(self, http: OutboundHttp, encryptor: Encryptor, max_bytes: int = 1024 * 1024):
        self.http = http
        self.encryptor = encryptor
        self.max_bytes = max_bytes

    def prepare(self, config: dict[str, Any], previous: dict[str, Any] | None,
                scope: ToolScope) -> dict[str, Any]:
        """The url must not be a refused address (OutboundRefused, 422); `parameters` must be
        an object schema; header values are encrypted."""
        # a host that does not resolve now may later: checked again on every call
        with contextlib.suppress(OutboundFailed):
            self.http.check_url(config["url"])
        parameters = config["parameters"]
        if parameters.get("type", "object") != "object":
            raise ValidationFailed("Invalid parameters",
                                   details={"parameters": ["Must be a JSON schema of an object."]})
        config[STORED] = seal(config.pop("headers"), config["url"], previous, self.type,
                              self.encryptor)
        return config

    def public(self, stored: dict[str, Any]) -> dict[str, Any]:
        return shown(stored)

    def parameters(self, stored: dict[str, Any], ctx: Any) -> dict[str, Any]:
        return stored.get("parameters") or {"type": "object", "properties": {}}

    def call(self, stored: dict[str, Any], function: str, arguments: dict[str, Any],
             ctx: ToolContext) -> ToolResult:
        method = stored.get("method", "GET")
        url = stored["url"]
        headers = opened(stored, self.encryptor)
        body = None
        if method in IN_QUERY:
            fixed = sorted(set(arguments) & _query_names(url))
            if fixed:  # the url's own parameters are the author's, not the model's to change
                raise ToolError(f"these parameters are fixed by the tool: {', '.join(fixed)}")
            url = _with_query(url, arguments)
        else:
            body = json.dumps(arguments).encode()
            if not any(name.lower() == "content-type" for name in headers):
                headers["Content-Type"] = "application/json"
        timeout = ctx.deadline.remaining()
        if timeout <= 0:
            raise ToolError("no time left for the request")
        response = self.http.request(method, url, headers, body, timeout_s=timeout,
                                     max_bytes=self.max_bytes)
        text = response.body.decode("utf-8", errors="replace")[:MAX_RESULT_CHARS]
        if response.status >= 400:
            return ToolResult.failed(f"HTTP {response.status}: {text}")
        return ToolResult(text)


def _query_names(url: str) -> set[str]:
    return {name for name, _value in parse_qsl(urlsplit(url).query, keep_blank_values=True)}


def _with_query(url: str, arguments: dict[str, Any]) -> str:
    if not arguments:
        return url
    parts = urlsplit(url)
    extra = urlencode({key: value if isinstance(value, str) else json.dumps(value)
                       for key, value in arguments.items()})
    query = f"{parts.query}&{extra}" if parts.query else extra
    return urlunsplit((parts.scheme, parts.netloc, parts.path, query, parts.fragment))
