"""Stand-ins for the model gateway's collaborators, for tests that do not care about them."""
from __future__ import annotations

from dataclasses import dataclass

from entities.errors import UpstreamError
from use_cases.gateway.llm_chat import LLMChat
from use_cases.gateway.ports import LLMGateway, ProviderCredentials


def within_budget(workspace_id: str, api_key_id: str | None) -> None:
    """A budget guard with room for every call."""


class NoModels(LLMGateway):
    """A model provider that is down."""

    def models(self, credentials):
        return []

    def default_model(self, credentials):
        return "none/none"

    def complete(self, request):
        raise UpstreamError("No model provider in this test")

    def stream(self, request):
        raise UpstreamError("No model provider in this test")

    def count_tokens(self, model, messages):
        return 0

    def context_window(self, model):
        return 0


class NoProviderKeys(ProviderCredentials):
    def for_workspace(self, workspace_id):
        return {}


@dataclass
class _Membership:
    workspace_id: str


class EveryoneIsAMember:
    """WorkspaceAccess for tests without users: anyone may use any workspace."""

    def require(self, user_id, workspace_id, minimum):
        return _Membership(workspace_id)


class DroppedUsage:
    """A UsageRecorder that keeps nothing."""

    def record(self, record):
        pass


def llm_chat_without_models() -> LLMChat:
    """Model calls for code that makes none (workflows of http_request nodes...)."""
    return LLMChat(NoModels(), NoProviderKeys(), EveryoneIsAMember(), DroppedUsage(),
                   budget_guard=within_budget)
