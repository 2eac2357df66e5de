"""The OpenAI-compatible face (`/v1`): the same model calls as `/api/v1/llm`, for a user token
or a workspace API key.

A key acts in its own workspace with member rights, whoever created it; the controller has
verified it already (ApiKeys.authenticate, cached), so its calls skip the membership lookups,
and read the workspace's provider keys through a short cache: with a key, nothing but the cached
verification waits on the database before the provider is called.
"""
from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace

from entities.actor import Actor
from entities.errors import Forbidden, ModelNotFound, NotFound, UnknownModel
from entities.llm import (
    ChatRequest,
    ChatResult,
    EmbeddingRequest,
    EmbeddingResult,
    ModelInfo,
    ProviderCredential,
    StreamChunk,
)
from entities.workspace import Membership, WorkspaceRole
from use_cases.gateway.llm_chat import LLMChat
from use_cases.gateway.ports import ProviderCredentials
from use_cases.shared.ttl_cache import TtlCache

SOURCE = "openai"
EMBEDDINGS_SOURCE = "openai_embeddings"


class KeyGrantedAccess:
    """WorkspaceAccess for callers holding a verified key of `workspace_id`: member rights."""

    def require(self, user_id: str, workspace_id: str | None,
                minimum: WorkspaceRole | str = WorkspaceRole.VIEWER) -> Membership:
        if workspace_id is None:
            raise NotFound("Workspace not found")
        if not WorkspaceRole.MEMBER.at_least(WorkspaceRole(minimum)):
            raise Forbidden(f"An API key cannot act as {WorkspaceRole(minimum).value}")
        return Membership(workspace_id, user_id, WorkspaceRole.MEMBER)


class CachedCredentials(ProviderCredentials):
    """A workspace's provider keys, read again at most once per TTL per process."""

    def __init__(self, credentials: ProviderCredentials, ttl_s: float = 5.0):
        self.credentials = credentials
        self._cache = TtlCache(ttl_s)

    def for_workspace(self, workspace_id: str | None) -> dict[str, ProviderCredential]:
        return self._cache.get_or_load(workspace_id,
                                       lambda: self.credentials.for_workspace(workspace_id))

    def forget(self, workspace_id: str | None, _user_id: str | None = None) -> None:
        """Drops the workspace's cached keys (StaleCaches: a provider key set or deleted)."""
        self._cache.pop(workspace_id)


class OpenAICompletions:
    def __init__(self, user_chat: LLMChat, key_chat: LLMChat):
        self.user_chat = user_chat  # WorkspaceAccess: the caller's membership decides
        self.key_chat = key_chat  # KeyGrantedAccess and CachedCredentials

    def models(self, actor: Actor, workspace_id: str | None) -> list[ModelInfo]:
        """The models a call could use now: those with credentials or a local runtime."""
        chat, workspace = self._route(actor, workspace_id)
        return [model for model in chat.models(actor.user_id, workspace) if model.available]

    def model(self, actor: Actor, workspace_id: str | None, model_id: str) -> ModelInfo:
        """One of `models`, else ModelNotFound."""
        for model in self.models(actor, workspace_id):
            if model.id == model_id:
                return model
        raise not_found(model_id)

    def passed_params(self) -> frozenset[str]:
        """The request fields, beyond ChatRequest's own, that a call passes on to providers."""
        return self.key_chat.gateway.passed_params()

    def workspace(self, actor: Actor, workspace_id: str | None) -> str:
        """The workspace a call of `actor` acts in (a key's own; a user's named or personal
        one, with member rights), else NotFound / Forbidden."""
        chat, workspace = self._route(actor, workspace_id)
        return chat.access.require(actor.user_id, workspace, WorkspaceRole.MEMBER).workspace_id

    def complete(self, actor: Actor, workspace_id: str | None, request: ChatRequest,
                 source: str = SOURCE) -> ChatResult:
        chat, workspace = self._route(actor, workspace_id)
        try:
            return chat.chat(actor.user_id, workspace, request, api_key_id=actor.api_key_id,
                             source=source)
        except UnknownModel:
            raise not_found(request.model) from None

    def stream(self, actor: Actor, workspace_id: str | None, request: ChatRequest,
               source: str = SOURCE) -> tuple[str, Iterator[StreamChunk]]:
        """The model asked for (or the default one, named here so every chunk can carry it)
        and the chunks."""
        chat, workspace = self._route(actor, workspace_id)
        model = request.model
        if not model:
            credentials = chat.credentials.for_workspace(workspace)
            model = chat.gateway.default_model(credentials)
            request = replace(request, model=model)
        try:
            chunks = chat.chat_stream(actor.user_id, workspace, request,
                                      api_key_id=actor.api_key_id, source=source)
        except UnknownModel:
            raise not_found(model) from None
        return model, chunks

    def embed(self, actor: Actor, workspace_id: str | None,
              request: EmbeddingRequest) -> EmbeddingResult:
        """Embeddings, metered like a chat call (usage record, budget hold and settlement).
        ModelNotFound for a model the catalogue lacks; InvalidParameter (400, `model`) for a
        model that does not embed."""
        chat, workspace = self._route(actor, workspace_id)
        try:
            return chat.embed(actor.user_id, workspace, request, api_key_id=actor.api_key_id,
                              source=EMBEDDINGS_SOURCE)
        except UnknownModel:
            raise not_found(request.model) from None

    def _route(self, actor: Actor, workspace_id: str | None) -> tuple[LLMChat, str | None]:
        """A key works in its own workspace only (another one named is simply not found);
        a user token in the named workspace, else the caller's personal one."""
        if actor.api_key_id is None:
            return self.user_chat, workspace_id
        if workspace_id is not None and workspace_id != actor.api_key_workspace_id:
            raise NotFound("Workspace not found")
        return self.key_chat, actor.api_key_workspace_id


def not_found(model_id: str | None) -> ModelNotFound:
    return ModelNotFound(f"The model '{model_id}' does not exist or you do not have access to it",
                         {"param": "model"})
