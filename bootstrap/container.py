"""What create_app builds once per process and keeps in `app.extensions["synapscale"]`:
controllers reach it through controllers/deps.py, CLI commands and tests through the app."""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, fields
from typing import TYPE_CHECKING, Any, Protocol

from bootstrap.agents import AgentUseCases
from bootstrap.chat import ChatUseCases
from bootstrap.files import FileUseCases
from bootstrap.gateway import GatewayUseCases
from bootstrap.identity import IdentityUseCases
from bootstrap.imports import ImportUseCases
from bootstrap.webhooks import WebhookUseCases
from bootstrap.workflows import WorkflowUseCases
from use_cases.gateway.ports import LLMGateway
from use_cases.identity.ports import UserRepository
from use_cases.metrics.ports import Metrics
from use_cases.shared.health import CheckHealth
from use_cases.shared.idempotency import IdempotentRequests
from use_cases.shared.ports import AuditLog, Encryptor, OutboundHttp
from use_cases.shared.stale_caches import StaleCaches
from use_cases.webhooks.ports import DeliveryRepository, WebhookRepository
from use_cases.webhooks.webhooks import WebhookFanout
from use_cases.workspaces.ports import MembershipRepository, WorkspaceRepository

if TYPE_CHECKING:
    from pymongo import MongoClient
    from pymongo.database import Database

    from config.settings import Settings


class Indexed(Protocol):
    """A repository that owns collections: it creates their indexes (safe to run again)."""

    def ensure_indexes(self) -> None: ...


@dataclass(frozen=True)
class Platform:
    """What every area shares: settings, the database, the adapters and the repositories more
    than one area uses."""

    settings: Settings
    client: MongoClient
    db: Database
    repositories: list[Indexed]  # every one built, for ensure_indexes (create_app, init-db)
    closers: list[Callable[[], None]]  # shutdown() calls them last to first
    health: CheckHealth
    metrics: Metrics
    events: WebhookFanout  # the event bus of every area; it also queues webhook deliveries
    gateway: LLMGateway
    encryptor: Encryptor
    outbound: OutboundHttp
    audit: AuditLog  # announces the changes other processes' caches must drop
    stale_caches: StaleCaches
    idempotency: IdempotentRequests  # Idempotency-Key / client_message_id on creating routes
    users: UserRepository
    workspace_repo: WorkspaceRepository
    memberships: MembershipRepository
    webhook_repo: WebhookRepository
    deliveries: DeliveryRepository


@dataclass(frozen=True)
class Container(Platform, IdentityUseCases, GatewayUseCases, FileUseCases, ChatUseCases,
                WorkflowUseCases, WebhookUseCases, AgentUseCases, ImportUseCases):
    """The platform and every area's use cases, under one flat set of names
    (`use_cases().talks`, `.accounts`, `.workflow_runner`...): each field is declared once, by
    the part that builds it."""

    @classmethod
    def of(cls, *parts: Any) -> Container:
        values: dict[str, Any] = {}
        for part in parts:
            for field in fields(part):
                if field.name in values:
                    raise TypeError(f"two parts of the container provide {field.name!r}")
                values[field.name] = getattr(part, field.name)
        return cls(**values)
