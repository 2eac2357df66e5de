"""What a workflow loses when it is published as a template: anything that looks like a
credential, and every reference to its workspace or to that workspace's files.

- http_request: secret-looking headers are dropped, secret-looking query parameters removed
  from the URL, secret-looking keys of a JSON body emptied;
- file_text: the file id is emptied (whoever installs the template picks their own file);
- every string: ids of the workspace and of its files (24-hex ids) and API-key-like tokens
  (`sk-...`, `Bearer ...`) are removed.
"""
from __future__ import annotations

import copy
import re
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from entities.workflow import Graph, Node

SECRET_NAME = re.compile(
    r"auth|token|secret|passw|api[-_]?key|apikey|access[-_]?key|private[-_]?key|cookie|session|"
    r"signature|^sig$|^key$|credential|bearer",
    re.IGNORECASE)
OBJECT_ID = re.compile(r"\b[0-9a-f]{24}\b", re.IGNORECASE)
KEY_LIKE = re.compile(r"\b(?:sk|pk|rk|xox[abpr])-[A-Za-z0-9_-]{12,}|\bBearer\s+[A-Za-z0-9._~+/=-]+")


def is_secret_name(name: str) -> bool:
    return bool(SECRET_NAME.search(name))


def strip_secrets(graph: Graph) -> Graph:
    nodes = [_clean_node(node) for node in graph.nodes]
    return Graph(nodes, copy.deepcopy(graph.edges))


def _clean_node(node: Node) -> Node:
    config = copy.deepcopy(node.config)
    if node.type == "http_request":
        config["headers"] = {name: value for name, value in (config.get("headers") or {}).items()
                             if not is_secret_name(name)}
        if not config["headers"]:
            del config["headers"]
        if isinstance(config.get("url"), str):
            config["url"] = _clean_url(config["url"])
        if isinstance(config.get("body"), dict | list):
            config["body"] = _clean_body(config["body"])
    if node.type == "file_text":
        config["file_id"] = ""
    return Node(node.id, node.type, node.name, _scrub(config))


def _clean_url(url: str) -> str:
    parts = urlsplit(url)
    if not parts.query:
        return url
    kept = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True)
            if not is_secret_name(k)]
    return urlunsplit(parts._replace(query=urlencode(kept, safe="{}% ")))


def _clean_body(body: Any) -> Any:
    if isinstance(body, dict):
        return {key: "" if is_secret_name(str(key)) else _clean_body(value)
                for key, value in body.items()}
    if isinstance(body, list):
        return [_clean_body(item) for item in body]
    return body


def _scrub(value: Any) -> Any:
    if isinstance(value, str):
        return KEY_LIKE.sub("", OBJECT_ID.sub("", value))
    if isinstance(value, dict):
        return {key: _scrub(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_scrub(item) for item in value]
    return value
