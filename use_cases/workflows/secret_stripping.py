"""What replaces a credential in a published template: a named placeholder the installer fills in.

A secret found in a config becomes `{{ secret.<name> }}` (`{{ secret.header_x_api_key }}`), the
name saying where it was (a header, a query parameter, a body key, the URL, a text). The same
value found twice gets the same name; two different values never share one. A workflow still
holding placeholders saves and installs, but does not run until each is replaced by a value
(`placeholders_in`, checked by Executions).

What counts as a secret: a header, parameter or key whose *name* says so (`Authorization`,
`X-Api-Key`, `Ocp-Apim-Subscription-Key`, anything with key, token, secret, password or auth in
it), or whose *value* a maintained secret detector (the SecretDetector port: detect-secrets'
plugins) recognises, plus the key-like tokens (`sk-...`) of our own rule. Strings are read as
what they are: header and parameter values whole, URLs by their parts (credentials, each query
parameter, the rest as text), string bodies as JSON or as a form when they parse as one.
"""
from __future__ import annotations

import bisect
import json
import re
from typing import Any
from urllib.parse import parse_qsl, quote, unquote_plus, urlencode, urlsplit, urlunsplit

from use_cases.workflows.ports import SecretDetector

SECRET_NAMESPACE = "secret"  # noqa: S105 (the placeholders' namespace, not a password)
PLACEHOLDER = re.compile(r"\{\{\s*secret\.([A-Za-z0-9_]+)\s*\}\}")
_AUTH_SCHEMES = re.compile(r"\b(?:bearer|basic|token|digest|apikey)\b", re.IGNORECASE)
# key-like tokens the detector's plugins do not all know (OpenAI-style `sk-...`, Slack `xox.-`)
KEY_LIKE = re.compile(r"\b(?:sk|pk|rk|xox[abpr])-[A-Za-z0-9_-]{12,}|\bBearer\s+[A-Za-z0-9._~+/=-]+")
_FORM = re.compile(r"^[^\s=&]+=[^\s&]*(?:&[^\s=&]+=[^\s&]*)*$")

SECRET_NAME = re.compile(
    r"auth|token|secret|passw|api[-_]?key|apikey|access[-_]?key|private[-_]?key|cookie|session|"
    r"signature|^sig$|credential|bearer|(?:^|[^a-z])key(?:$|[^a-z])",
    re.IGNORECASE)
_CAMEL_KEY = re.compile(r"[a-z0-9]Key(?:$|[^a-z])")


def is_secret_name(name: str) -> bool:
    """A parameter or body key whose name says it holds a credential (`password`, `api_key`,
    `subscriptionKey`, `x-functions-key`...)."""
    return bool(SECRET_NAME.search(name) or _CAMEL_KEY.search(name))


def is_secret_header(name: str) -> bool:
    """Header names are stricter: any `key` in one (`Ocp-Apim-Subscription-Key`) counts."""
    return is_secret_name(name) or "key" in name.lower()


def placeholders_in(value: Any) -> list[str]:
    """The placeholder names in a config (or a whole graph's configs), sorted, once each."""
    found: set[str] = set()

    def walk(item: Any) -> None:
        if isinstance(item, str):
            found.update(PLACEHOLDER.findall(item))
        elif isinstance(item, dict):
            for nested in item.values():
                walk(nested)
        elif isinstance(item, list | tuple):
            for nested in item:
                walk(nested)

    walk(value)
    return sorted(found)


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", text.lower()).strip("_")[:48].strip("_") or "value"


_CLOSERS = {"{{": "}}", "{%": "%}"}


def expression_spans(text: str) -> list[tuple[int, int]]:
    """Where the `{{ ... }}` and `{% ... %}` expressions are (start, end), each from an opener
    to the first closer after it, in linear time. The lazy regex this replaces retried from every
    unclosed opener: quadratic, 25 s for 100,000 characters of `{{`."""
    spans: list[tuple[int, int]] = []
    next_opener = {opener: text.find(opener) for opener in _CLOSERS}
    while openers := [(at, opener) for opener, at in next_opener.items() if at >= 0]:
        start, opener = min(openers)
        end = text.find(_CLOSERS[opener], start + 2)
        if end < 0:  # no closer after it: no later opener of its kind can close either
            next_opener[opener] = -1
            continue
        end += 2
        spans.append((start, end))
        for other, at in next_opener.items():
            if 0 <= at < end:
                next_opener[other] = text.find(other, end)
    return spans


def without_expressions(text: str) -> str:
    kept, position = [], 0
    for start, end in expression_spans(text):
        kept.append(text[position:start])
        position = end
    kept.append(text[position:])
    return "".join(kept)


def _has_literal(value: str) -> bool:
    """Whether `value` holds anything but expressions and an auth scheme word (`Bearer {{ t }}`
    references an input: nothing to strip)."""
    return bool(_AUTH_SCHEMES.sub("", without_expressions(value)).strip())


class SecretStripper:
    """Replaces the secrets of one workflow's configs by placeholders; one per publication, so
    names are unique across its nodes."""

    def __init__(self, detector: SecretDetector, tenant: str):
        self.detector = detector
        self.tenant = tenant  # the publishing workspace
        self._names: dict[str, str] = {}  # secret value -> placeholder name
        self._taken: set[str] = set()

    def placeholder(self, hint: str, secret: str) -> str:
        name = self._names.get(secret)
        if name is None:
            base = name = _slug(hint)
            counter = 1
            while name in self._taken:
                counter += 1
                name = f"{base}_{counter}"
            self._names[secret] = name
            self._taken.add(name)
        return f"{{{{ {SECRET_NAMESPACE}.{name} }}}}"

    # --- what a string is --------------------------------------------------------------------

    def header(self, name: str, value: str) -> str:
        if is_secret_header(name) and _has_literal(value):
            return self.placeholder(f"header_{name}", value)
        return self.value(value, name, "header")

    def value(self, value: str, name: str, where: str) -> str:
        """A whole value (of a header, query parameter or body key `name`)."""
        if not _has_literal(value):
            return value
        if is_secret_name(name) or self.detector.is_secret(without_expressions(value), self.tenant, name):
            return self.placeholder(f"{where}_{name}", value)
        return self.text(value, f"{where}_{name}")

    def text(self, text: str, hint: str) -> str:
        """Free text (a prompt, a template, a URL's path): each secret in it replaced."""
        if not text:
            return text
        expressions = expression_spans(text)
        spans = [span for span in self.detector.find(text, self.tenant) + _spans(KEY_LIKE, text)
                 if not _inside(span, expressions)]
        out, position = [], 0
        for start, end in _merged(spans):
            out.append(text[position:start])
            out.append(self.placeholder(hint, text[start:end]))
            position = end
        out.append(text[position:])
        return "".join(out)

    def url(self, url: str, hint: str = "url") -> str:
        """Credentials in it and each query parameter as values; the rest as text."""
        try:
            parts = urlsplit(url)
        except ValueError:
            return self.text(url, hint)
        netloc = parts.netloc
        if parts.password is not None:
            host = netloc.rsplit("@", 1)[1]
            netloc = f"{parts.username}:{self.placeholder(f'{hint}_password', parts.password)}@{host}"
        query = "&".join(self._query_pair(pair) for pair in parts.query.split("&")) \
            if parts.query else ""
        rest = urlunsplit((parts.scheme, netloc, parts.path, "", parts.fragment))
        cleaned = self.text(rest, hint)
        if query:
            head, _, fragment = cleaned.partition("#")
            cleaned = f"{head}?{query}" + (f"#{fragment}" if fragment else "")
        return cleaned

    def _query_pair(self, raw: str) -> str:
        """One `name=value` of a query, as written unless its value had to go."""
        name, equals, value = raw.partition("=")
        if not equals:
            return raw
        decoded = unquote_plus(value)
        cleaned = self.value(decoded, unquote_plus(name), "query")
        return raw if cleaned == decoded else f"{name}={quote(cleaned, safe='{}%. ')}"

    def body(self, body: Any, hint: str = "body") -> Any:
        """A JSON body (object, array) key by key; a string body as JSON or a form when it parses
        as one, else as text."""
        if isinstance(body, dict):
            return {key: self.value(item, str(key), hint) if isinstance(item, str)
                    else self.body(item, f"{hint}_{key}") for key, item in body.items()}
        if isinstance(body, list):
            return [self.body(item, hint) for item in body]
        if not isinstance(body, str):
            return body
        stripped = body.strip()
        if stripped[:1] in ("{", "[") and not PLACEHOLDER.fullmatch(stripped):
            try:
                parsed = json.loads(stripped)
                cleaned = self.body(parsed, hint)
            except (ValueError, RecursionError):  # not JSON, or nested too deep: read as text
                pass
            else:
                return body if cleaned == parsed else json.dumps(cleaned, ensure_ascii=False)
        if _FORM.match(stripped):
            pairs = parse_qsl(stripped, keep_blank_values=True)
            kept = [(k, self.value(v, k, hint)) for k, v in pairs]
            return body if kept == pairs else urlencode(kept, safe="{}%. ", quote_via=quote)
        return self.text(body, hint)


def _spans(pattern: re.Pattern[str], text: str) -> list[tuple[int, int]]:
    return [match.span() for match in pattern.finditer(text)]


def _inside(span: tuple[int, int], outer: list[tuple[int, int]]) -> bool:
    """Whether `span` lies within one of `outer` (sorted, not overlapping: expression_spans)."""
    index = bisect.bisect_right(outer, (span[0], float("inf"))) - 1
    return index >= 0 and outer[index][0] <= span[0] and span[1] <= outer[index][1]


def _merged(spans: list[tuple[int, int]]) -> list[tuple[int, int]]:
    merged: list[tuple[int, int]] = []
    for start, end in sorted(spans):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return merged
