"""The model catalogue: a LiteLLM-proxy-style YAML file (`model_list` + `router_settings`).

`os.environ/NAME` values are resolved from the environment when the file is loaded; a missing
variable resolves to None, which is what makes a model "unavailable" until its key is set.
"""
from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from adapters.local_model_server import INSTALL_HINT as LOCAL_INSTALL_HINT
from adapters.local_model_server import runtime_installed
from entities.provider_key import KEYLESS_PROVIDERS

log = logging.getLogger(__name__)

ENV_PREFIX = "os.environ/"
LOCAL_URL_VARIABLE = "LOCAL_MODEL_URL"
# What a workspace credential replaces: the server's secrets never go with it, and with a
# workspace address, none of the server's address settings either.
SECRET_PARAMS = ("api_key", "organization", "project", "aws_access_key_id", "aws_secret_access_key",
                 "aws_session_token", "vertex_credentials", "azure_ad_token")
ADDRESS_PARAMS = ("api_base", "base_url", "api_version", "aws_region_name", "vertex_location",
                  "vertex_project")
PROVIDER_ALIASES = {"google": "gemini", "ollama_chat": "ollama"}
KEY_VARIABLES = {
    "openai": "OPENAI_API_KEY",
    "anthropic": "ANTHROPIC_API_KEY",
    "gemini": "GOOGLE_API_KEY",
    "ollama": "OLLAMA_API_BASE",
}


class CatalogueError(ValueError):
    """The catalogue file exists but cannot be understood: refuse to start."""


def provider_key(name: str) -> str:
    """Canonical provider name: workspace credentials may say "google" for Gemini."""
    name = name.strip().lower()
    return PROVIDER_ALIASES.get(name, name)


def local_runtime_installed() -> bool:
    return runtime_installed()


def resolve_env(value: Any, environ: Mapping[str, str]) -> Any:
    if isinstance(value, str) and value.startswith(ENV_PREFIX):
        return environ.get(value[len(ENV_PREFIX):]) or None
    if isinstance(value, dict):
        return {k: resolve_env(v, environ) for k, v in value.items()}
    if isinstance(value, list):
        return [resolve_env(v, environ) for v in value]
    return value


@dataclass(frozen=True)
class ModelEntry:
    name: str  # model_name, the id clients use: "openai/gpt-4o-mini"
    provider: str  # "openai", "anthropic", "gemini", "ollama", "local"...
    litellm_params: dict[str, Any]
    model_info: dict[str, Any] = field(default_factory=dict)
    # "" on the server's credentials; else a fingerprint of the workspace credential it runs on,
    # so the router state (cooldowns, failure counts) it causes is its own
    credential_scope: str = ""
    workspace_address: bool = False  # api_base is the workspace's: checked before every call

    @property
    def litellm_model(self) -> str:
        return self.litellm_params["model"]

    @property
    def is_local(self) -> bool:
        return self.provider == "local"

    @property
    def needs_api_base(self) -> bool:
        return self.provider == "ollama"

    def price(self, kind: str) -> float | None:
        """Explicit `input_cost_per_token` / `output_cost_per_token` from the catalogue."""
        value = self.model_info.get(kind, self.litellm_params.get(kind))
        return float(value) if value is not None else None

    def with_credential(self, api_key: str | None, api_base: str | None, scope: str) -> ModelEntry:
        """This model on a workspace's own credential, which is complete or unusable: the
        server's secrets are dropped (LiteLLM would read the provider's key variable from the
        environment if none were passed: unavailable_reason refuses that case), and with a
        workspace address the server's address settings too."""
        dropped = SECRET_PARAMS + (ADDRESS_PARAMS if api_base else ())
        params = {name: value for name, value in self.litellm_params.items() if name not in dropped}
        params["api_key"] = api_key or None
        if api_base:
            params["api_base"] = api_base
        return ModelEntry(self.name, self.provider, params, self.model_info, scope, bool(api_base))

    def unavailable_reason(self) -> str | None:
        """Why this model cannot be called now, or None when it can."""
        if self.is_local:
            if self.litellm_params.get("api_base"):
                return None
            if not local_runtime_installed():
                return f"the local model runtime is not installed: run `{LOCAL_INSTALL_HINT}`"
            return (f"the local model server is not running: set {LOCAL_URL_VARIABLE}, or "
                    "LOCAL_MODEL_ENABLED=true to let the app start it")
        variable = KEY_VARIABLES.get(self.provider, f"{self.provider.upper()}_API_KEY")
        if self.credential_scope and not self.litellm_params.get("api_key") \
                and self.provider not in KEYLESS_PROVIDERS:
            return f"the workspace's {self.provider} entry has an api_base but no api_key"
        if self.needs_api_base:
            if self.litellm_params.get("api_base"):
                return None
            return f"no {self.provider} server configured: set {variable} or a workspace api_base"
        if self.litellm_params.get("api_key"):
            return None
        return f"no {self.provider} API key: set {variable} or add a workspace {self.provider} key"


@dataclass(frozen=True)
class Catalogue:
    entries: tuple[ModelEntry, ...]
    router_settings: dict[str, Any]

    def get(self, name: str) -> ModelEntry | None:
        return next((entry for entry in self.entries if entry.name == name), None)

    @property
    def names(self) -> list[str]:
        return list(dict.fromkeys(entry.name for entry in self.entries))

    def fallbacks_of(self, name: str) -> list[str]:
        for rule in self.router_settings.get("fallbacks") or []:
            if name in rule:
                return list(rule[name] or [])
        return []


def _entry(raw: dict[str, Any]) -> ModelEntry:
    name = raw["model_name"]
    params = dict(raw.get("litellm_params") or {})
    params.setdefault("model", name)
    info = dict(raw.get("model_info") or {})
    provider = info.pop("provider", None) or params["model"].split("/", 1)[0]
    return ModelEntry(name, provider_key(provider), params, info)


def local_only(environ: Mapping[str, str]) -> Catalogue:
    """The catalogue without a file: the local model server alone."""
    params = {"model": "openai/smollm2", "api_key": "local", "max_tokens": 512,
              "api_base": environ.get(LOCAL_URL_VARIABLE) or None}
    info = {"max_input_tokens": 2048, "input_cost_per_token": 0, "output_cost_per_token": 0,
            "cooldown_time": 0}
    return Catalogue((ModelEntry("local/smollm2", "local", params, info),), {})


def catalogue_path(path: str | Path) -> Path | None:
    """`path` as given, else relative to the project root (gunicorn may run from elsewhere)."""
    candidates = [Path(path)]
    if not Path(path).is_absolute():
        candidates.append(Path(__file__).resolve().parents[1] / path)
    return next((candidate for candidate in candidates if candidate.is_file()), None)


def load_catalogue(path: str | Path, environ: Mapping[str, str] | None = None) -> Catalogue:
    """The catalogue at `path`; only the local model when there is no such file."""
    environ = os.environ if environ is None else environ
    found = catalogue_path(path)
    if found is None:
        log.warning("No model catalogue at %s: only the local model is configured", path)
        return local_only(environ)
    try:
        raw = resolve_env(yaml.safe_load(found.read_text()) or {}, environ)
        entries = tuple(_entry(item) for item in raw.get("model_list") or [])
        router_settings = dict(raw.get("router_settings") or {})
    except (yaml.YAMLError, KeyError, TypeError, AttributeError) as exc:
        raise CatalogueError(f"Cannot read the model catalogue {found}: {exc!r}") from exc
    if not entries:
        raise CatalogueError(f"The model catalogue {found} has an empty model_list")
    return Catalogue(entries, router_settings)
