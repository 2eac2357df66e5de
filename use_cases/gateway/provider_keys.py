"""Workspaces' own model-provider keys: encrypted at rest, shown only as a hint, decrypted in
memory for the LLM gateway."""
from __future__ import annotations

import logging
import re

from entities.actor import Actor
from entities.clock import utcnow
from entities.errors import NotFound, ValidationFailed
from entities.llm import ProviderCredential
from entities.outbound import OutboundFailed, OutboundRefused
from entities.provider_key import KEYLESS_PROVIDERS, ProviderStatus, StoredProviderKey, key_hint
from entities.workspace import WorkspaceRole
from use_cases.gateway.ports import ProviderCredentials, ProviderKeyRepository
from use_cases.shared.ports import AuditLog, Encryptor, OutboundHttp
from use_cases.workspaces.access import WorkspaceAccess

log = logging.getLogger(__name__)

# Listed even when unset, so clients can offer them; any other provider name may be stored too.
KNOWN_PROVIDERS = ("openai", "anthropic", "gemini", "ollama")
PROVIDER_NAME = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,39}$")


class ProviderKeys:
    def __init__(self, keys: ProviderKeyRepository, encryptor: Encryptor, access: WorkspaceAccess,
                 audit: AuditLog, outbound: OutboundHttp):
        self.keys = keys
        self.encryptor = encryptor
        self.access = access
        self.audit = audit
        self.outbound = outbound

    def list(self, actor: Actor, workspace_id: str) -> list[ProviderStatus]:
        self.access.require(actor.user_id, workspace_id, WorkspaceRole.ADMIN)
        stored = {key.provider: status_of(key) for key in self.keys.list(workspace_id)}
        unset = [ProviderStatus(name, configured=False)
                 for name in KNOWN_PROVIDERS if name not in stored]
        return sorted([*stored.values(), *unset], key=lambda status: status.provider)

    def put(self, actor: Actor, workspace_id: str, provider: str, api_key: str | None,
            api_base: str | None = None) -> ProviderStatus:
        self.access.require(actor.user_id, workspace_id, WorkspaceRole.ADMIN)
        if not PROVIDER_NAME.match(provider):
            raise ValidationFailed("Unknown provider name", {"provider": [
                "Lower-case letters, digits, '_', '-' or '.', at most 40 characters."]})
        api_key = (api_key or "").strip()
        if not api_key and not api_base:
            raise ValidationFailed("Give an api_key, an api_base or both",
                                   {"api_key": ["Missing data for required field."]})
        if not api_key and provider not in KEYLESS_PROVIDERS:
            raise ValidationFailed("An api_base needs the api_key that goes with it", {"api_key": [
                f"{provider} needs a key: the server's own key is never sent to another address."]})
        if api_base:
            self._check_api_base(api_base)
        stored = self.keys.put(StoredProviderKey(
            workspace_id=workspace_id, provider=provider,
            encrypted_key=self.encryptor.encrypt(api_key), key_hint=key_hint(api_key),
            api_base=api_base, updated_at=utcnow(), updated_by=actor.user_id))
        self.audit.record("provider_key.set", actor.user_id, "provider_key", provider,
                          workspace_id=workspace_id, ip=actor.ip,
                          details={"provider": provider, "key_hint": stored.key_hint})
        return status_of(stored)

    def _check_api_base(self, api_base: str) -> None:
        """The server calls this address with the workspace's key: the same address rules as
        webhooks and http_request nodes (server-side request forgery). A name that does not
        resolve yet is kept; it cannot reach anything until it does."""
        try:
            self.outbound.check_url(api_base)
        except OutboundRefused as refused:
            raise ValidationFailed("This api_base is not allowed",
                                   {"api_base": [refused.message]}) from None
        except OutboundFailed:
            return

    def delete(self, actor: Actor, workspace_id: str, provider: str) -> None:
        self.access.require(actor.user_id, workspace_id, WorkspaceRole.ADMIN)
        if not self.keys.delete(workspace_id, provider):
            raise NotFound("No key stored for this provider")
        self.audit.record("provider_key.deleted", actor.user_id, "provider_key", provider,
                          workspace_id=workspace_id, ip=actor.ip, details={"provider": provider})


def status_of(key: StoredProviderKey) -> ProviderStatus:
    return ProviderStatus(key.provider, True, key.key_hint, key.api_base, key.updated_at)


class StoredProviderCredentials(ProviderCredentials):
    """The ProviderCredentials port over the stored keys: what the LLM gateway calls with.

    No access check here: callers have already authorised the workspace."""

    def __init__(self, keys: ProviderKeyRepository, encryptor: Encryptor):
        self.keys = keys
        self.encryptor = encryptor

    def for_workspace(self, workspace_id: str | None) -> dict[str, ProviderCredential]:
        if not workspace_id:
            return {}
        credentials = {}
        for key in self.keys.list(workspace_id):
            try:
                api_key = self.encryptor.decrypt(key.encrypted_key)
            except ValueError:
                log.error("provider key cannot be decrypted; was ENCRYPTION_KEY changed?",
                          extra={"fields": {"workspace_id": workspace_id, "provider": key.provider}})
                continue
            credentials[key.provider] = ProviderCredential(key.provider, api_key, key.api_base)
        return credentials
