"""Composition root: builds every dependency once and wires it into the Flask app.

`python app.py` runs the development server; gunicorn serves "app:create_app()".
"""
from __future__ import annotations

import atexit
import logging
import os
import signal
import sys
from datetime import timedelta
from types import SimpleNamespace

from dotenv import load_dotenv
from flask import Flask
from flask_cors import CORS
from pymongo.errors import ConnectionFailure

from adapters.content_sniffer import SignatureSniffer
from adapters.embedded_services import EmbeddedServices, LocalModelEndpoint
from adapters.encryption import FernetEncryptor
from adapters.event_bus import MongoEventBus
from adapters.jinja_sandbox import SandboxedTemplates
from adapters.json_query import JsonPathQuery
from adapters.json_schema import JsonSchemaValidator
from adapters.link_signer import SignedLinks
from adapters.llm_gateway import LiteLLMGateway
from adapters.local_model_server import LocalModelHealth
from adapters.mail import SmtpMailer
from adapters.metrics import PrometheusMetrics
from adapters.outbound_http import GuardedHttpClient
from adapters.passwords import BcryptHasher
from adapters.rate_limit_storage import rate_limit_storage
from adapters.text_extraction import DocumentText
from config.logging_setup import configure_logging
from config.settings import Settings
from controllers import (
    admin,
    analytics,
    api_keys,
    auth,
    chatai,
    execution_socket,
    files,
    llm,
    metrics,
    openai,
    service,
    talk_socket,
    talks,
    webhooks,
    workflows,
    workspaces,
)
from controllers.deferred_limits import init_deferred_limits
from controllers.errors import register_error_handlers
from controllers.file_commands import purge_files_command
from controllers.metrics import init_metrics
from controllers.openapi import create_api
from controllers.rate_limits import init_rate_limits, trust_proxies
from controllers.realtime import document as document_user_feed
from controllers.realtime import init_realtime
from controllers.request_context import install_request_context
from controllers.security import init_jwt
from data.cli import register_commands
from data.workflow_worker import register_worker_command
from entities.webhook import RetryPolicy
from repositories.api_keys import MongoApiKeyRepository
from repositories.audit import MongoAuditLog
from repositories.executions import MongoExecutionRepository
from repositories.file_storage import GridFSStorage
from repositories.files import MongoFileRepository
from repositories.health import MongoProbe
from repositories.mongo import connect
from repositories.one_time_tokens import MongoOneTimeTokenRepository
from repositories.outbox import MongoOutboxMailer
from repositories.provider_keys import MongoProviderKeyRepository
from repositories.sessions import MongoSessionRepository
from repositories.spend import MongoSpendRepository
from repositories.storage_usage import MongoStorageUsage
from repositories.talks import MongoMessageRepository, MongoTalkRepository
from repositories.templates import MongoTemplateRepository
from repositories.usage import MongoUsageRepository
from repositories.usage_stats import MongoUsageStatistics
from repositories.users import MongoUserRepository
from repositories.webhooks import MongoDeliveryRepository, MongoWebhookRepository
from repositories.workflows import MongoWorkflowRepository
from repositories.workspaces import MongoMembershipRepository, MongoWorkspaceRepository
from use_cases.analytics.analytics import UsageAnalytics
from use_cases.chat.chat import Chat
from use_cases.chat.context import ContextBuilder
from use_cases.chat.events import TalkEvents
from use_cases.chat.file_context import AttachedFiles
from use_cases.chat.generations import Generations
from use_cases.chat.talks import Talks
from use_cases.files.downloads import FileDownloads
from use_cases.files.files import Files
from use_cases.files.ingest import FileIngest, FilePolicy
from use_cases.gateway.api_keys import ApiKeys
from use_cases.gateway.budgets import BudgetGuard, SpendCounting
from use_cases.gateway.llm_chat import LLMChat
from use_cases.gateway.openai_compat import CachedCredentials, KeyGrantedAccess, OpenAICompletions
from use_cases.gateway.provider_keys import ProviderKeys, StoredProviderCredentials
from use_cases.identity.admin import UserAdministration
from use_cases.identity.auth import Accounts, Sessions
from use_cases.identity.email_verification import EmailVerification
from use_cases.identity.one_time_tokens import OneTimeTokens
from use_cases.identity.passwords import Passwords
from use_cases.metrics.metering import MeteredEvents, MeteredUsageRecorder
from use_cases.shared.health import CheckHealth
from use_cases.shared.stale_caches import AnnouncingAuditLog, StaleCaches
from use_cases.webhooks.delivery import WebhookDispatcher
from use_cases.webhooks.webhooks import WebhookFanout, Webhooks
from use_cases.workflows.engine import EngineLimits, WorkflowEngine
from use_cases.workflows.events import ExecutionEvents
from use_cases.workflows.executions import Executions
from use_cases.workflows.file_texts import WorkspaceFileTexts
from use_cases.workflows.nodes.base import NodeLimits
from use_cases.workflows.nodes.registry import NodeHandlers
from use_cases.workflows.runner import ExecutionRunner
from use_cases.workflows.templates import Templates
from use_cases.workflows.validation import WorkflowValidator
from use_cases.workflows.workflows import Workflows
from use_cases.workspaces.access import WorkspaceAccess
from use_cases.workspaces.workspaces import Workspaces

log = logging.getLogger("synapscale")


def build_container(settings: Settings, client, db, local_model: LocalModelEndpoint) -> SimpleNamespace:
    """Every repository, adapter and use case, built once per process."""
    c = SimpleNamespace(settings=settings, client=client, db=db, repositories=[])

    def repository(cls):
        repo = cls(db)
        c.repositories.append(repo)
        return repo

    c.health = CheckHealth(MongoProbe(db), {"local_model": LocalModelHealth(
        local_model.url, settings.local_model_path, local_model.reason)})
    bus = MongoEventBus(db)
    c.repositories.append(bus)
    c.webhook_repo = repository(MongoWebhookRepository)
    c.deliveries = repository(MongoDeliveryRepository)
    c.events = WebhookFanout(bus, c.webhook_repo, c.deliveries)
    c.closers = [c.events.close]

    # identity and tenancy
    c.users = repository(MongoUserRepository)
    c.workspace_repo = repository(MongoWorkspaceRepository)
    c.memberships = repository(MongoMembershipRepository)
    c.stale_caches = StaleCaches(bus)
    c.audit = AnnouncingAuditLog(repository(MongoAuditLog), c.stale_caches)
    c.sessions = Sessions(repository(MongoSessionRepository), settings.jwt_refresh_token_expires)
    c.access = WorkspaceAccess(c.workspace_repo, c.memberships)
    c.mailer = (SmtpMailer(settings.smtp_host, settings.smtp_port, settings.smtp_from,
                           settings.smtp_user, settings.smtp_password, settings.smtp_tls)
                if settings.smtp_host else repository(MongoOutboxMailer))
    hasher = BcryptHasher(settings.bcrypt_rounds)
    tokens = OneTimeTokens(repository(MongoOneTimeTokenRepository))
    c.email_verification = EmailVerification(c.users, tokens, c.mailer, c.audit)
    c.accounts = Accounts(c.users, c.workspace_repo, c.memberships, hasher, c.sessions,
                          c.audit, c.email_verification)
    c.passwords = Passwords(c.users, hasher, c.sessions, tokens, c.mailer, c.audit)
    c.admin = UserAdministration(c.users, c.sessions, c.audit)
    c.workspaces = Workspaces(c.workspace_repo, c.memberships, c.access, c.users, c.audit,
                              c.events)
    provider_keys = repository(MongoProviderKeyRepository)
    encryptor = FernetEncryptor(settings.encryption_key)
    outbound = GuardedHttpClient.from_settings(settings)
    c.provider_keys = ProviderKeys(provider_keys, encryptor, c.access, c.audit, outbound)
    c.provider_credentials = StoredProviderCredentials(provider_keys, encryptor)

    # LLM gateway, usage, API keys, budgets, metrics
    c.metrics = PrometheusMetrics(settings.prometheus_multiproc_dir)
    c.api_key_repo = repository(MongoApiKeyRepository)
    c.api_keys = ApiKeys(c.api_key_repo, c.workspace_repo, c.users, c.access, c.audit,
                         settings.api_key_cache_ttl_s, settings.api_key_touch_interval_s)
    spend = repository(MongoSpendRepository)
    c.budget = BudgetGuard(c.workspace_repo, c.api_key_repo, spend, settings.budget_cache_ttl_s)
    c.gateway = LiteLLMGateway.from_settings(settings, outbound, local_model.url)
    c.usage = MeteredUsageRecorder(
        SpendCounting(repository(MongoUsageRepository), spend, c.budget.counted), c.metrics)
    c.closers.append(c.usage.close)
    c.llm_chat = LLMChat(c.gateway, c.provider_credentials, c.access, c.usage, c.budget)
    key_credentials = CachedCredentials(c.provider_credentials, settings.api_key_cache_ttl_s)
    key_chat = LLMChat(c.gateway, key_credentials, KeyGrantedAccess(), c.usage, c.budget)
    for cache in (c.api_keys, c.budget, key_credentials):
        c.stale_caches.on_stale(cache.forget)
    c.openai = OpenAICompletions(c.llm_chat, key_chat)
    c.analytics = UsageAnalytics(MongoUsageStatistics(db), c.access, c.workspace_repo)

    # webhooks
    c.webhooks = Webhooks(c.webhook_repo, c.deliveries, encryptor, outbound, c.access, c.audit,
                          settings.webhook_max_per_workspace)
    c.webhook_dispatcher = WebhookDispatcher(
        c.webhook_repo, c.deliveries, encryptor, outbound,
        RetryPolicy(settings.webhook_max_attempts, settings.webhook_backoff_base_s,
                    settings.webhook_backoff_max_s),
        settings.webhook_timeout_s, settings.webhook_poll_interval_s)
    c.events.on_enqueued = c.webhook_dispatcher.wake
    c.closers.append(c.webhook_dispatcher.close)

    # files
    c.file_repo = repository(MongoFileRepository)
    c.file_storage = repository(GridFSStorage)
    file_policy = FilePolicy.of(settings.max_file_size, settings.allowed_extensions,
                                settings.workspace_storage_quota)
    ingest = FileIngest(c.file_storage, repository(MongoStorageUsage), SignatureSniffer(),
                        file_policy)
    c.files = Files(c.file_repo, ingest, c.access, c.events, c.audit)
    c.file_downloads = FileDownloads(c.file_repo, c.file_storage, SignedLinks(settings.secret_key),
                                     c.access, timedelta(seconds=settings.file_link_ttl_s))
    c.file_context = AttachedFiles(c.file_repo, c.file_storage, DocumentText(), c.access,
                                   settings.file_context_max_chars,
                                   settings.file_context_max_image_bytes)

    # talks and chat
    c.talk_repo = repository(MongoTalkRepository)
    c.message_repo = repository(MongoMessageRepository)
    c.talks = Talks(c.talk_repo, c.message_repo, c.workspace_repo, c.access, TalkEvents(c.events),
                    model_ids=lambda: [model.id for model in c.gateway.models({})])
    c.generations = Generations(settings.chat_max_generations)
    c.closers.append(c.generations.close)
    c.chat = Chat(c.talks, c.message_repo, c.workspace_repo, c.gateway,
                  ContextBuilder(c.message_repo, c.gateway, c.file_context), c.usage,
                  c.generations, c.events, c.provider_credentials,
                  budget_guard=c.budget, flush_interval=settings.chat_flush_interval_s)

    # workflows
    templates = SandboxedTemplates(max_chars=settings.workflow_max_output_bytes)
    json_query = JsonPathQuery()
    c.workflow_repo = repository(MongoWorkflowRepository)
    c.execution_repo = repository(MongoExecutionRepository)
    c.workflows = Workflows(c.workflow_repo, c.access,
                            WorkflowValidator(JsonSchemaValidator(), templates, json_query))
    node_handlers = NodeHandlers(
        templates, json_query, llm=c.llm_chat, http=outbound,
        files=WorkspaceFileTexts(c.file_repo, c.file_storage, DocumentText()),
        limits=NodeLimits(settings.workflow_http_max_bytes, settings.file_context_max_chars))
    engine = WorkflowEngine(node_handlers, templates, EngineLimits(
        settings.workflow_node_timeout_s, settings.workflow_max_steps, settings.workflow_max_run_s,
        settings.workflow_max_output_bytes, settings.workflow_max_parallel_nodes))
    execution_events = ExecutionEvents(MeteredEvents(c.events, c.metrics))
    c.workflow_runner = ExecutionRunner(
        c.execution_repo, engine, execution_events, c.events, settings.workflow_runner_threads,
        settings.workflow_lease_s, settings.workflow_heartbeat_s, settings.workflow_poll_s,
        settings.workflow_max_claims)
    c.closers.append(c.workflow_runner.stop)
    c.executions = Executions(c.workflows, c.execution_repo, c.access, c.workflow_runner,
                              execution_events, c.events, settings.workflow_wait_s)
    c.templates = Templates(repository(MongoTemplateRepository), c.workflows, c.users)
    return c


def shutdown(container: SimpleNamespace) -> None:
    """Flush and stop background work (usage batches, listeners) before the process exits."""
    for close in reversed(container.closers):
        close()


def drain(app: Flask) -> None:
    """The worker stops taking requests (gunicorn.conf.py): live event feeds end with close code
    1012 so their clients reconnect to another worker; requests in flight may still finish."""
    app.extensions["synapscale"].events.close()


def ensure_indexes(container: SimpleNamespace) -> None:
    for repo in container.repositories:
        repo.ensure_indexes()


def create_app(config: Settings | None = None, *, mongo_listeners=()) -> Flask:
    """`mongo_listeners`: pymongo CommandListeners for the app's clients (tests count commands)."""
    if config is None:
        load_dotenv()
        config = Settings.from_env()
    settings = config
    configure_logging(settings.log_level)

    embedded = EmbeddedServices(settings)
    database_uri = embedded.mongodb_uri()
    local_model = embedded.local_model_endpoint()
    if embedded.started_any:
        atexit.register(embedded.stop)
    client = connect(database_uri, settings.mongodb_timeout_ms, mongo_listeners)
    db = client[settings.mongodb_database]

    app = Flask(__name__)
    app.url_map.strict_slashes = False
    app.config.update(
        SECRET_KEY=settings.secret_key,
        MAX_CONTENT_LENGTH=settings.max_file_size + 1024 * 1024,
        JSON_SORT_KEYS=False,
    )
    container = build_container(settings, client, db, local_model)
    container.closers.insert(0, embedded.stop)  # last: what the app started stops with it
    app.extensions["synapscale"] = container

    try:
        ensure_indexes(container)
    except ConnectionFailure:
        log.warning("database unreachable at start-up; run `flask --app app init-db` later")

    init_metrics(app)  # first, so its clock starts before every other hook
    install_request_context(app, settings.max_content_length)
    trust_proxies(app, settings.trusted_proxies)
    container.closers.append(init_rate_limits(app, settings.ratelimit_enabled, *rate_limit_storage(
        settings.ratelimit_storage_uri or database_uri, settings.mongodb_database,
        settings.mongodb_timeout_ms, mongo_listeners)))
    container.closers.append(init_deferred_limits(app, settings.ratelimit_enabled))
    CORS(app, origins=list(settings.cors_origins), expose_headers=["X-Request-ID"])
    api = create_api(app, settings.version)
    for blueprint in (service.blp, auth.blp, workspaces.blp, webhooks.blp, admin.blp):
        api.register_blueprint(blueprint)
    api.register_blueprint(files.blp)
    api.register_blueprint(talks.blp)
    api.register_blueprint(chatai.blp)
    api.register_blueprint(llm.blp)
    talk_socket.document(api)
    for blueprint in (workflows.blp, workflows.executions_blp, workflows.templates_blp):
        api.register_blueprint(blueprint)
    execution_socket.document(api)
    document_user_feed(api)
    for blueprint in (api_keys.blp, openai.blp, analytics.blp, metrics.blp):
        api.register_blueprint(blueprint)

    @app.before_request
    def start_background_work() -> None:
        """Workflow runs and cache invalidation start in this process after gunicorn forked
        it, on its first request."""
        container.workflow_runner.ensure_started()
        container.stale_caches.ensure_started()

    init_jwt(app, settings, container.sessions)
    init_realtime(app)
    register_error_handlers(app, unavailable=(ConnectionFailure,))
    register_commands(app, ensure_indexes)
    app.cli.add_command(purge_files_command)
    register_worker_command(app, shutdown)
    container.webhook_dispatcher.start()  # last: an app that failed to build leaves no thread
    return app


if __name__ == "__main__":
    # SIGTERM exits through atexit too, so the embedded database is stopped cleanly.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    application = create_app()
    application.run(host=os.environ.get("HOST", "127.0.0.1"), port=int(os.environ.get("PORT", "5000")))
