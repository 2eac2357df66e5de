"""Model calls through the one LLM gateway: direct and OpenAI-compatible calls, API keys,
monthly budgets, usage recording and the usage reports."""
from __future__ import annotations

from dataclasses import dataclass

from use_cases.analytics.analytics import UsageAnalytics
from use_cases.analytics.ports import UsageStatistics
from use_cases.gateway.api_keys import ApiKeys
from use_cases.gateway.budget_alerts import BudgetAlerts
from use_cases.gateway.budgets import BudgetPolicy, Budgets, HoldSweeper
from use_cases.gateway.llm_chat import LLMChat
from use_cases.gateway.metered_call import ModelCallMeter
from use_cases.gateway.openai_compat import CachedCredentials, KeyGrantedAccess, OpenAICompletions
from use_cases.gateway.openai_responses import OpenAIResponses
from use_cases.gateway.ports import (
    ApiKeyRepository,
    LLMGateway,
    ProviderCredentials,
    ResponseRepository,
    ResponsesTranslation,
    SpendRepository,
    UsageRepository,
)
from use_cases.identity.ports import Mailer, UserRepository
from use_cases.metrics.metering import MeteredBudgets, MeteredUsageRecorder
from use_cases.metrics.ports import Metrics
from use_cases.shared.global_feed import FailoverNotices
from use_cases.shared.ports import AuditLog, EventBus
from use_cases.shared.stale_caches import StaleCaches
from use_cases.workspaces.access import WorkspaceAccess
from use_cases.workspaces.ports import MembershipRepository, WorkspaceRepository


@dataclass(frozen=True)
class GatewayLimits:
    api_key_cache_ttl_s: float  # a verified key (and its workspace's provider keys) per process
    api_key_touch_interval_s: float  # how often a key's last_used_at is written
    budget_cache_ttl_s: float  # budget amounts, per process (changes are announced)
    budget_hold_ttl_s: float  # a call's reservation not settled by then is released


@dataclass(frozen=True)
class GatewayUseCases:
    api_keys: ApiKeys
    budget: Budgets
    hold_sweeper: HoldSweeper  # releases holds of calls whose process died: close() stops it
    meter: ModelCallMeter  # every model call's reservation, settlement and usage record
    usage: MeteredUsageRecorder  # batches usage records in the background: close() flushes
    llm_chat: LLMChat
    openai: OpenAICompletions
    openai_responses: OpenAIResponses  # /v1/responses: stored responses over `openai`
    analytics: UsageAnalytics


def build_gateway(*, llm: LLMGateway, credentials: ProviderCredentials, access: WorkspaceAccess,
                  users: UserRepository, workspace_repo: WorkspaceRepository,
                  memberships: MembershipRepository, mailer: Mailer, events: EventBus,
                  api_key_repo: ApiKeyRepository, spend_repo: SpendRepository,
                  usage_repo: UsageRepository, statistics: UsageStatistics, audit: AuditLog,
                  response_repo: ResponseRepository, responses_translation: ResponsesTranslation,
                  metrics: Metrics, stale_caches: StaleCaches,
                  limits: GatewayLimits) -> GatewayUseCases:
    alerts = BudgetAlerts(spend_repo, workspace_repo, memberships, users, mailer, events,
                          cache_ttl_s=limits.budget_cache_ttl_s)
    budget = MeteredBudgets(workspace_repo, memberships, api_key_repo, spend_repo, access, alerts,
                            BudgetPolicy(hold_ttl_s=limits.budget_hold_ttl_s,
                                         cache_ttl_s=limits.budget_cache_ttl_s),
                            metrics=metrics)
    usage = MeteredUsageRecorder(usage_repo, metrics, FailoverNotices(events))
    meter = ModelCallMeter(llm, budget, usage)
    llm_chat = LLMChat(llm, credentials, access, meter)
    key_credentials = CachedCredentials(credentials, ttl_s=limits.api_key_cache_ttl_s)
    key_chat = LLMChat(llm, key_credentials, KeyGrantedAccess(), meter)
    api_keys = ApiKeys(api_key_repo, workspace_repo, users, access, audit,
                       cache_ttl_s=limits.api_key_cache_ttl_s,
                       touch_interval_s=limits.api_key_touch_interval_s)
    openai = OpenAICompletions(llm_chat, key_chat)
    for cache in (api_keys, budget, alerts, key_credentials):  # what a change elsewhere makes wrong
        stale_caches.on_stale(cache.forget)
    return GatewayUseCases(
        api_keys=api_keys,
        budget=budget,
        # every quarter of a hold's life: a dead process's holds go soon after they expire
        hold_sweeper=HoldSweeper(budget, interval_s=min(30.0, max(1.0, limits.budget_hold_ttl_s / 4))),
        meter=meter,
        usage=usage,
        llm_chat=llm_chat,
        openai=openai,
        openai_responses=OpenAIResponses(openai, responses_translation, response_repo),
        analytics=UsageAnalytics(statistics, access, workspace_repo),
    )
