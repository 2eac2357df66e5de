"""The SecretDetector port on Yelp's detect-secrets: every plugin it ships (GitHub, GitLab, Slack,
AWS, Azure, Stripe, Twilio, SendGrid, npm, PyPI, OpenAI, JWT, private keys, basic-auth URLs,
secret keywords, high-entropy strings...), so new kinds of token are caught by upgrading the
library rather than by growing our own list.

The plugin instances are built once and called directly (`analyze_string`): the library's
`scan_line` reads and changes its process-wide settings (not safe across threads) and, in its
ad-hoc mode, reports every word of a line. No plugin is ever asked to verify a secret against its
service (no network). Left out: IPPublicDetector (an address is not a credential). Kept from the
library's filters: templated values (`{x}`, `<x>`, `${x}`), sequential strings and UUIDs.

A plugin reports the secret's value, sometimes only part of it (GitHubTokenDetector reports the
`ghp` prefix): each finding is widened to the whole token around it (letters, digits, `_`, `-`).

Some plugins' regular expressions are quadratic on hostile text (OpenAIDetector: 4.3 s for
100,000 characters of `sk-AAAAAAAAAAAA` glued together), and every string of a published workflow
is user text: the scan runs in the ProcessSandbox, under its time, CPU and memory limits.
"""
from __future__ import annotations

import bisect
import json
import re
from collections.abc import Iterable, Iterator
from functools import lru_cache

from detect_secrets.core.plugins.util import get_mapping_from_secret_type_to_class
from detect_secrets.filters.heuristic import (
    is_potential_uuid,
    is_sequential_string,
    is_templated_secret,
)
from detect_secrets.plugins.base import BasePlugin
from detect_secrets.plugins.high_entropy_strings import HighEntropyStringsPlugin
from detect_secrets.plugins.keyword import KeywordDetector

from adapters.sandbox import ProcessSandbox
from use_cases.workflows.ports import SecretDetector

LEFT_OUT = frozenset({"IPPublicDetector"})
TOKEN = re.compile(r"[A-Za-z0-9_-]+")


class SecretScanner:
    """The scan itself, in the calling process: what a sandbox worker runs."""

    def __init__(self) -> None:
        classes: Iterable[type[BasePlugin]] = get_mapping_from_secret_type_to_class().values()
        plugins: list[BasePlugin] = [cls() for cls in classes if cls.__name__ not in LEFT_OUT]
        self.entropy = [p for p in plugins if isinstance(p, HighEntropyStringsPlugin)]
        self.keyword = next(p for p in plugins if isinstance(p, KeywordDetector))
        self.patterns = [p for p in plugins if p not in self.entropy and p is not self.keyword]

    def find(self, text: str) -> list[tuple[int, int]]:
        """Each distinct finding is looked up once and widened through a map of the text's
        tokens: the plugins report one value per match, and widening each occurrence by walking
        its token was cubic in a text of glued tokens (`AKIA` * 2,000: 83 s for 8,000 chars)."""
        secrets = set(self._findings(text))
        if not secrets:
            return []
        tokens = [match.span() for match in TOKEN.finditer(text)]
        starts = [start for start, _ in tokens]
        spans = set()
        for secret in secrets:
            start = text.find(secret)
            while start != -1:
                spans.add(_widen(tokens, starts, start, start + len(secret)))
                start = text.find(secret, start + len(secret))
        return sorted(spans)

    def is_secret(self, value: str, name: str = "") -> bool:
        if not value.strip():
            return False
        if self.find(value) or any(self._entropic(plugin, value) for plugin in self.entropy):
            return True
        if name:  # the keyword rules look at `name: "value"`, as in a config file
            line = f"{json.dumps(name)}: {json.dumps(value)}"
            return any(_kept(secret) for secret in self.keyword.analyze_string(line))
        return False

    def _findings(self, text: str) -> Iterator[str]:
        for plugin in self.patterns:
            yield from filter(_kept, plugin.analyze_string(text))
        yield from filter(_kept, self.keyword.analyze_string(text))
        for plugin in self.entropy:  # quoted strings only, as the library reads code
            yield from (secret for secret in plugin.analyze_string(text)
                        if self._entropic(plugin, secret, quoted=True))

    @staticmethod
    def _entropic(plugin: HighEntropyStringsPlugin, value: str, quoted: bool = False) -> bool:
        """A whole value (or a quoted string) random enough to be a key, by the plugin's own
        limit and alphabet."""
        if not quoted and any(ch not in plugin.charset for ch in value):
            return False
        return _kept(value) and plugin.calculate_shannon_entropy(value) > plugin.entropy_limit


@lru_cache(maxsize=1)
def _scanner() -> SecretScanner:
    return SecretScanner()


def find_in_worker(text: str) -> list[tuple[int, int]]:
    """The sandbox task of DetectSecretsDetector.find."""
    return _scanner().find(text)


def is_secret_in_worker(value: str, name: str) -> bool:
    """The sandbox task of DetectSecretsDetector.is_secret."""
    return _scanner().is_secret(value, name)


class DetectSecretsDetector(SecretDetector):
    """The SecretDetector port: SecretScanner in `sandbox`'s workers."""

    def __init__(self, sandbox: ProcessSandbox):
        self.sandbox = sandbox

    def find(self, text: str, tenant: str) -> list[tuple[int, int]]:
        return self.sandbox.call(find_in_worker, text, tenant=tenant,
                                 what="scanning the text for credentials")

    def is_secret(self, value: str, tenant: str, name: str = "") -> bool:
        return self.sandbox.call(is_secret_in_worker, value, name, tenant=tenant,
                                 what="scanning the value for credentials")


def _kept(secret: str) -> bool:
    return bool(secret) and not (is_templated_secret(secret) or is_sequential_string(secret)
                                 or is_potential_uuid(secret))


def _widen(tokens: list[tuple[int, int]], starts: list[int], start: int,
           end: int) -> tuple[int, int]:
    """`start`..`end` grown to the whole tokens (letters, digits, `_`, `-`) its ends are in."""
    first = bisect.bisect_right(starts, start) - 1
    if first >= 0 and start < tokens[first][1]:
        start = tokens[first][0]
    last = bisect.bisect_right(starts, end - 1) - 1
    if last >= 0 and end - 1 < tokens[last][1]:
        end = max(end, tokens[last][1])
    return start, end
