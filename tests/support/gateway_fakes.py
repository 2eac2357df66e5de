"""Stand-ins for the model gateway's collaborators, for tests that do not care about them."""
from __future__ import annotations

from dataclasses import dataclass

from entities.errors import UpstreamError
from use_cases.gateway.budget_alerts import BudgetAlerts
from use_cases.gateway.budgets import Budgets
from use_cases.gateway.llm_chat import LLMChat
from use_cases.gateway.metered_call import ModelCallMeter
from use_cases.gateway.ports import LLMGateway, ProviderCredentials


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

    def record(self, record, durable=False):
        pass


def budgets_on_fakes(workspaces=None, memberships=None, keys=None, spend=None,
                     access=None) -> Budgets:
    """Budgets over in-memory stores; with the defaults, no budget is set anywhere."""
    from tests.unit.fakes import (
        FakeEventBus,
        FakeMailer,
        FakeMembershipRepository,
        FakeUserRepository,
        FakeWorkspaceRepository,
    )
    from tests.unit.gateway_fakes import FakeApiKeyRepository, FakeSpendRepository

    memberships = memberships or FakeMembershipRepository()
    workspaces = workspaces or FakeWorkspaceRepository(memberships)
    spend = spend or FakeSpendRepository()
    alerts = BudgetAlerts(spend, workspaces, memberships, FakeUserRepository(), FakeMailer(),
                          FakeEventBus())
    return Budgets(workspaces, memberships, keys or FakeApiKeyRepository(), spend,
                   access or EveryoneIsAMember(), alerts)


def meter_without_budgets(gateway: LLMGateway, usage=None) -> ModelCallMeter:
    """Every call metered, none limited: usage goes to `usage` (default: dropped)."""
    return ModelCallMeter(gateway, budgets_on_fakes(), usage or DroppedUsage())


def llm_chat_without_models() -> LLMChat:
    """Model calls for code that makes none (workflows of http_request nodes...)."""
    models = NoModels()
    return LLMChat(models, NoProviderKeys(), EveryoneIsAMember(), meter_without_budgets(models))
