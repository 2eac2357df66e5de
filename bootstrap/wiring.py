"""The real dependencies, built from the settings and handed to each area's builder: the MongoDB
repositories and the adapters (LiteLLM, GridFS or S3, bcrypt, Fernet, SMTP or the outbox, Prometheus,
the guarded HTTP client, the sandboxes). This is the container create_app runs on, in
production as in the e2e tests; unit tests call the area builders with fakes instead.

Settings reach the use cases as keywords or as the small limits dataclasses of each area.
"""
from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import TypeVar

from pymongo import MongoClient
from pymongo.database import Database

from adapters.bm25_ranker import Bm25Ranker
from adapters.content_sniffer import SignatureSniffer
from adapters.conversation_stream import StreamedConversations
from adapters.embedded_services import LocalModelEndpoint
from adapters.encryption import FernetEncryptor
from adapters.event_bus import MongoEventBus
from adapters.jinja_sandbox import SandboxedTemplates
from adapters.json_query import JsonPathQuery
from adapters.json_schema import JsonSchemaValidator
from adapters.link_signer import SignedLinks
from adapters.llm_gateway import LiteLLMGateway
from adapters.local_model_server import LocalModelHealth
from adapters.mail import SmtpMailer
from adapters.mcp_client import McpHttpClient
from adapters.metrics import PrometheusMetrics
from adapters.outbound_http import GuardedHttpClient
from adapters.passwords import BcryptHasher
from adapters.responses_translation import LiteLLMResponsesTranslation
from adapters.s3_storage import S3Health, S3Storage, s3_client
from adapters.sandbox import ProcessSandbox
from adapters.secret_detector import DetectSecretsDetector
from adapters.text_extraction import DocumentText
from bootstrap.agents import AgentLimits, AgentsForWorkflows, AgentUseCases, build_agents
from bootstrap.chat import ChatLimits, ChatUseCases, build_chat
from bootstrap.container import Container, Indexed, Platform
from bootstrap.files import FileLimits, FileUseCases, build_files
from bootstrap.gateway import GatewayLimits, GatewayUseCases, build_gateway
from bootstrap.identity import IdentityUseCases, build_identity
from bootstrap.imports import ImportUseCases, build_imports
from bootstrap.webhooks import WebhookLimits, WebhookUseCases, build_webhooks
from bootstrap.workflows import RunnerLimits, WorkflowLimits, WorkflowUseCases, build_workflows
from config.settings import Settings
from controllers.schemas.talks import SchemaRepresentation
from entities.talk_import import ImportLimits
from entities.webhook import RetryPolicy
from repositories.agents import MongoAgentRepository
from repositories.api_keys import MongoApiKeyRepository
from repositories.audit import MongoAuditLog
from repositories.executions import MongoExecutionRepository
from repositories.extracted_texts import MongoExtractedTextRepository
from repositories.file_storage import GridFSStorage
from repositories.files import MongoFileRepository
from repositories.health import MongoProbe
from repositories.idempotency import MongoIdempotencyRepository
from repositories.one_time_tokens import MongoOneTimeTokenRepository
from repositories.outbox import MongoOutboxMailer
from repositories.provider_keys import MongoProviderKeyRepository
from repositories.released_blobs import MongoReleasedBlobs
from repositories.responses import MongoResponseRepository
from repositories.sessions import MongoSessionRepository
from repositories.shares import MongoShareRepository
from repositories.spend import MongoSpendRepository
from repositories.storage_usage import MongoStorageUsage
from repositories.talk_imports import MongoExportJobs, MongoImportJobs, MongoTalkArchive
from repositories.talks import MongoMessageRepository, MongoTalkRepository
from repositories.templates import MongoTemplateRepository
from repositories.usage import MongoUsageRepository
from repositories.usage_stats import MongoUsageStatistics
from repositories.users import MongoUserRepository
from repositories.webhooks import MongoDeliveryRepository, MongoWebhookRepository
from repositories.workflows import MongoWorkflowRepository
from repositories.workspaces import MongoMembershipRepository, MongoWorkspaceRepository
from use_cases.agents.file_search import FileSearch
from use_cases.agents.file_search_tool import FileSearchToolKind
from use_cases.agents.mcp_tool import McpToolKind
from use_cases.files.blob_stores import BlobStores
from use_cases.files.ingest import FilePolicy
from use_cases.files.ports import BlobStorage
from use_cases.identity.ports import Mailer
from use_cases.shared.health import CheckHealth
from use_cases.shared.idempotency import IdempotentRequests
from use_cases.shared.stale_caches import AnnouncingAuditLog, StaleCaches
from use_cases.webhooks.webhooks import WebhookFanout
from use_cases.workflows.engine import EngineLimits
from use_cases.workflows.nodes.base import NodeLimits

Repo = TypeVar("Repo", bound=Indexed)


class _Repositories:
    """Builds the MongoDB repositories on one database and keeps each in `built`, so that their
    indexes can be ensured (at start-up and by `flask init-db`)."""

    def __init__(self, db: Database):
        self.db = db
        self.built: list[Indexed] = []

    def __call__(self, repository: Callable[[Database], Repo]) -> Repo:
        built = repository(self.db)
        self.built.append(built)
        return built


def build_container(settings: Settings, client: MongoClient, db: Database,
                    local_model: LocalModelEndpoint) -> Container:
    """Every repository, adapter and use case, built once per process."""
    repository = _Repositories(db)
    platform = _platform(settings, client, db, local_model, repository)
    mailer = _mailer(settings, repository)
    identity = _identity(platform, repository, mailer)
    gateway = _gateway(platform, identity, repository, mailer)
    webhooks = _webhooks(platform, identity)
    # untrusted templates, JSONPath queries and document text run in its child processes
    sandbox = ProcessSandbox(workers=settings.sandbox_workers, memory_mb=settings.sandbox_memory_mb,
                             timeout_s=settings.sandbox_timeout_s)
    stores = _blob_stores(platform, repository)
    files = _files(platform, identity, repository, sandbox, stores)
    workflow_agents = AgentsForWorkflows()  # `agent` nodes: bound once agents are built
    workflows = _workflows(platform, identity, gateway, files, repository, sandbox,
                           workflow_agents)
    agents = _agents(platform, identity, gateway, files, workflows, workflow_agents, repository)
    chat = _chat(platform, identity, gateway, files, agents, repository)
    imports = _imports(platform, identity, files, chat, repository, stores)
    platform.closers.extend([platform.events.close, gateway.usage.close,
                             webhooks.webhook_dispatcher.close, chat.generations.close,
                             gateway.hold_sweeper.close,
                             workflows.workflow_runner.stop, sandbox.close])
    return Container.of(platform, identity, gateway, files, chat, workflows, webhooks, agents,
                        imports)


def _platform(settings: Settings, client: MongoClient, db: Database,
              local_model: LocalModelEndpoint, repository: _Repositories) -> Platform:
    bus = repository(MongoEventBus)
    webhook_repo = repository(MongoWebhookRepository)
    deliveries = repository(MongoDeliveryRepository)
    stale_caches = StaleCaches(bus)
    outbound = GuardedHttpClient.from_settings(settings)
    return Platform(
        settings=settings, client=client, db=db,
        repositories=repository.built,  # the areas built next add theirs to the same list
        closers=[],
        health=CheckHealth(MongoProbe(db), {"local_model": LocalModelHealth(
            local_model.url, settings.local_model_path, local_model.reason)}),
        events=WebhookFanout(bus, webhook_repo, deliveries),
        webhook_repo=webhook_repo,
        deliveries=deliveries,
        users=repository(MongoUserRepository),
        workspace_repo=repository(MongoWorkspaceRepository),
        memberships=repository(MongoMembershipRepository),
        stale_caches=stale_caches,
        idempotency=IdempotentRequests(repository(MongoIdempotencyRepository)),
        audit=AnnouncingAuditLog(repository(MongoAuditLog), stale_caches),
        metrics=PrometheusMetrics(settings.prometheus_multiproc_dir),
        gateway=LiteLLMGateway.from_settings(settings, outbound, local_model.url),
        encryptor=FernetEncryptor(settings.encryption_key),
        outbound=outbound,
    )


def _identity(platform: Platform, repository: _Repositories, mailer: Mailer) -> IdentityUseCases:
    settings = platform.settings
    return build_identity(
        users=platform.users, workspace_repo=platform.workspace_repo,
        memberships=platform.memberships, session_repo=repository(MongoSessionRepository),
        mailer=mailer, token_repo=repository(MongoOneTimeTokenRepository),
        provider_key_repo=repository(MongoProviderKeyRepository),
        hasher=BcryptHasher(settings.bcrypt_rounds), encryptor=platform.encryptor,
        outbound=platform.outbound, audit=platform.audit, events=platform.events,
        stale_caches=platform.stale_caches, refresh_ttl_s=settings.jwt_refresh_token_expires)


def _mailer(settings: Settings, repository: _Repositories) -> Mailer:
    """SMTP when a server is configured, else the `outbox` collection."""
    if settings.smtp_host:
        return SmtpMailer(settings.smtp_host, port=settings.smtp_port, sender=settings.smtp_from,
                          user=settings.smtp_user, password=settings.smtp_password,
                          tls=settings.smtp_tls)
    return repository(MongoOutboxMailer)


def _gateway(platform: Platform, identity: IdentityUseCases, repository: _Repositories,
             mailer: Mailer) -> GatewayUseCases:
    settings = platform.settings
    return build_gateway(
        llm=platform.gateway, credentials=identity.provider_credentials, access=identity.access,
        users=platform.users, workspace_repo=platform.workspace_repo,
        memberships=platform.memberships, mailer=mailer, events=platform.events,
        api_key_repo=repository(MongoApiKeyRepository),
        spend_repo=repository(MongoSpendRepository),
        usage_repo=repository(MongoUsageRepository),
        statistics=MongoUsageStatistics(platform.db), audit=platform.audit,
        response_repo=repository(MongoResponseRepository),
        responses_translation=LiteLLMResponsesTranslation(),
        metrics=platform.metrics, stale_caches=platform.stale_caches,
        limits=GatewayLimits(api_key_cache_ttl_s=settings.api_key_cache_ttl_s,
                             api_key_touch_interval_s=settings.api_key_touch_interval_s,
                             budget_cache_ttl_s=settings.budget_cache_ttl_s,
                             budget_hold_ttl_s=settings.budget_hold_ttl_s))


def _webhooks(platform: Platform, identity: IdentityUseCases) -> WebhookUseCases:
    settings = platform.settings
    retry = RetryPolicy(max_attempts=settings.webhook_max_attempts,
                        base_delay_s=settings.webhook_backoff_base_s,
                        max_delay_s=settings.webhook_backoff_max_s)
    return build_webhooks(
        events=platform.events, webhook_repo=platform.webhook_repo,
        deliveries=platform.deliveries, encryptor=platform.encryptor, outbound=platform.outbound,
        access=identity.access, audit=platform.audit,
        limits=WebhookLimits(max_per_workspace=settings.webhook_max_per_workspace, retry=retry,
                             timeout_s=settings.webhook_timeout_s,
                             poll_interval_s=settings.webhook_poll_interval_s))


def _files(platform: Platform, identity: IdentityUseCases, repository: _Repositories,
           sandbox: ProcessSandbox, stores: BlobStores) -> FileUseCases:
    settings = platform.settings
    policy = FilePolicy.of(max_file_size=settings.max_file_size,
                           allowed_extensions=settings.allowed_extensions,
                           workspace_quota=settings.workspace_storage_quota)
    return build_files(
        file_repo=repository(MongoFileRepository), storage=stores,
        storage_usage=repository(MongoStorageUsage),
        released_blobs=repository(MongoReleasedBlobs), sniffer=SignatureSniffer(),
        signer=SignedLinks(settings.secret_key), texts=repository(MongoExtractedTextRepository),
        extractor=DocumentText(sandbox, max_pages=settings.file_text_max_pages,
                               soft_time_s=settings.file_text_soft_time_s),
        access=identity.access, events=platform.events, audit=platform.audit,
        limits=FileLimits(policy=policy, link_ttl=timedelta(seconds=settings.file_link_ttl_s),
                          direct_links=settings.file_download_links == "presigned",
                          context_max_chars=settings.file_context_max_chars,
                          context_max_image_bytes=settings.file_context_max_image_bytes,
                          text_max_chars=settings.file_text_max_chars))


def _blob_stores(platform: Platform, repository: _Repositories) -> BlobStores:
    """GridFS always (the default, and where files stored before S3 was chosen stay readable);
    S3 too when S3_BUCKET is set. New bytes go to FILE_STORAGE's. /api/health reports them."""
    settings = platform.settings
    stores: dict[str, BlobStorage] = {"gridfs": repository(GridFSStorage)}
    s3_health: S3Health | None = None
    bucket = settings.s3_bucket.strip()
    if bucket:
        client = s3_client(settings.s3_endpoint_url, settings.s3_region)
        link_client = (s3_client(settings.s3_public_endpoint_url, settings.s3_region)
                       if settings.s3_public_endpoint_url else client)
        stores["s3"] = S3Storage(client, bucket, settings.s3_part_size, link_client)
        s3_health = S3Health(s3_client(settings.s3_endpoint_url, settings.s3_region,
                                       max_attempts=1, connect_timeout_s=2, read_timeout_s=2),
                             bucket)

    def storage_health() -> dict:
        return {"file_storage": settings.file_storage,
                **({"s3": s3_health()} if s3_health is not None else {})}

    platform.health.details["storage"] = storage_health
    return BlobStores(stores, primary=settings.file_storage)


def _chat(platform: Platform, identity: IdentityUseCases, gateway: GatewayUseCases,
          files: FileUseCases, agents: AgentUseCases, repository: _Repositories) -> ChatUseCases:
    settings = platform.settings
    return build_chat(
        talk_repo=repository(MongoTalkRepository), message_repo=repository(MongoMessageRepository),
        workspace_repo=platform.workspace_repo, access=identity.access, events=platform.events,
        llm=platform.gateway, credentials=identity.provider_credentials,
        file_context=files.file_context, meter=gateway.meter,
        representation=SchemaRepresentation(), agents=agents.talk_agents,
        limits=ChatLimits(max_generations=settings.chat_max_generations,
                          flush_interval_s=settings.chat_flush_interval_s),
        share_repo=repository(MongoShareRepository))


def _imports(platform: Platform, identity: IdentityUseCases, files: FileUseCases,
             chat: ChatUseCases, repository: _Repositories, stores: BlobStores) -> ImportUseCases:
    settings = platform.settings
    limits = ImportLimits(max_upload_bytes=settings.import_max_bytes,
                          max_messages=settings.import_max_messages)
    return build_imports(
        talks=chat.talks, reader=StreamedConversations(limits),
        archive=repository(MongoTalkArchive), import_jobs=repository(MongoImportJobs),
        export_jobs=repository(MongoExportJobs), access=identity.access, events=platform.events,
        file_context=files.file_context, storage=stores,
        signer=SignedLinks(settings.secret_key, salt="synapscale.talk-export"), limits=limits,
        max_jobs=settings.import_max_jobs, link_ttl=timedelta(seconds=settings.file_link_ttl_s))


def _workflows(platform: Platform, identity: IdentityUseCases, gateway: GatewayUseCases,
               files: FileUseCases, repository: _Repositories, sandbox: ProcessSandbox,
               agents: AgentsForWorkflows) -> WorkflowUseCases:
    settings = platform.settings
    return build_workflows(
        workflow_repo=repository(MongoWorkflowRepository),
        execution_repo=repository(MongoExecutionRepository),
        template_repo=repository(MongoTemplateRepository), users=platform.users,
        access=identity.access, events=platform.events, metrics=platform.metrics,
        llm=gateway.llm_chat, http=platform.outbound, files=files.file_texts,
        renderer=SandboxedTemplates(sandbox, max_chars=settings.workflow_max_output_bytes),
        json_query=JsonPathQuery(sandbox), schemas=JsonSchemaValidator(),
        secrets=DetectSecretsDetector(sandbox), agents=agents,
        limits=_workflow_limits(settings))


def _agents(platform: Platform, identity: IdentityUseCases, gateway: GatewayUseCases,
            files: FileUseCases, workflows: WorkflowUseCases,
            workflow_agents: AgentsForWorkflows, repository: _Repositories) -> AgentUseCases:
    settings = platform.settings
    return build_agents(
        agent_repo=repository(MongoAgentRepository), access=identity.access,
        files=files.files.file_access, gateway=platform.gateway,
        credentials=identity.provider_credentials, llm=gateway.llm_chat,
        key_llm=gateway.openai.key_chat, workflows=workflows.workflows,
        executions=workflows.executions, outbound=platform.outbound,
        encryptor=platform.encryptor, workflow_agents=workflow_agents,
        limits=AgentLimits(tool_timeout_s=settings.workflow_max_run_s,
                           http_max_bytes=settings.workflow_http_max_bytes),
        extra_kinds=(
            McpToolKind(McpHttpClient(GuardedHttpClient.from_settings(settings),
                                      max_response_bytes=settings.workflow_http_max_bytes),
                        platform.outbound, platform.encryptor),
            FileSearchToolKind(FileSearch(files.files.file_access, files.files.texts,
                                          Bm25Ranker())),
        ))


def _workflow_limits(settings: Settings) -> WorkflowLimits:
    return WorkflowLimits(
        engine=EngineLimits(node_timeout_s=settings.workflow_node_timeout_s,
                            max_steps=settings.workflow_max_steps,
                            max_run_s=settings.workflow_max_run_s,
                            max_output_bytes=settings.workflow_max_output_bytes,
                            max_state_bytes=settings.workflow_max_state_bytes,
                            max_parallel=settings.workflow_max_parallel_nodes),
        nodes=NodeLimits(http_max_bytes=settings.workflow_http_max_bytes,
                         file_max_chars=settings.file_context_max_chars),
        runner=RunnerLimits(threads=settings.workflow_runner_threads,
                            lease_s=settings.workflow_lease_s,
                            heartbeat_s=settings.workflow_heartbeat_s,
                            poll_s=settings.workflow_poll_s,
                            max_claims=settings.workflow_max_claims),
        wait_s=settings.workflow_wait_s)
