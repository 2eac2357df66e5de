"""A workspace's own key for a model provider, as stored: encrypted, with a printable hint."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

# Model servers that take no key: an entry for them may be an address alone. Any other entry is a
# complete credential (a key, and the address it goes to) or none: a workspace address never
# receives the server's own key.
KEYLESS_PROVIDERS = frozenset({"ollama", "local"})


@dataclass(frozen=True)
class StoredProviderKey:
    workspace_id: str
    provider: str
    encrypted_key: str  # ciphertext; the raw key exists only in memory, for a call
    key_hint: str | None
    api_base: str | None = None
    updated_at: datetime | None = None
    updated_by: str | None = None


@dataclass(frozen=True)
class ProviderStatus:
    """What clients may see of a provider key: never the key itself."""

    provider: str
    configured: bool
    key_hint: str | None = None
    api_base: str | None = None
    updated_at: datetime | None = None


def key_hint(api_key: str) -> str | None:
    """"sk-...abcd": enough to recognise a key, too little to use it. Short keys show nothing."""
    if not api_key:
        return None
    if len(api_key) < 12:
        return "..."
    return f"{api_key[:3]}...{api_key[-4:]}"
