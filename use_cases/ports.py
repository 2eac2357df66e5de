"""Interfaces of every repository and gateway the use cases need.

Real implementations live in repositories/ and adapters/; unit tests use in-memory fakes.
Sections are grouped by area; keep imports at the top.
"""
from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import BinaryIO

from entities.api_key import ApiKey
from entities.budget import SpendIncrement, SpendScope
from entities.file import File, FileQuery, FileVersion
from entities.llm import (
    ChatRequest,
    ChatResult,
    ModelInfo,
    ProviderCredential,
    StreamChunk,
    UsageRecord,
)
from entities.outbound import HttpResponse
from entities.pagination import Page, PageRequest
from entities.provider_key import StoredProviderKey
from entities.session import LoginSession
from entities.talk import Message, MessagePage, ReplyControl, Talk
from entities.usage_report import UsageQuery, UsageReport
from entities.user import User
from entities.webhook import Delivery, DeliveryAttempt, DeliveryStatus, Webhook
from entities.workflow import Execution, NodeRun, Template, Workflow
from entities.workspace import Membership, Workspace, WorkspaceRole

# --- Service ------------------------------------------------------------------------------------

class DatabaseProbe(ABC):
    @abstractmethod
    def ping_ms(self) -> float:
        """Round-trip time of a trivial command; raises when the database is unreachable."""


# --- Events -------------------------------------------------------------------------------------

class Subscription(ABC):
    @abstractmethod
    def get(self, timeout: float) -> dict | None:
        """The next event ({"topic", ...payload}), or None after `timeout` seconds."""

    @abstractmethod
    def close(self) -> None: ...

    @property
    def closed(self) -> bool:
        """True once the bus has shut down (the process is draining): consumers end the stream."""
        return False

    def __enter__(self) -> Subscription:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class EventBus(ABC):
    """Events that reach subscribers in every process (gunicorn worker, host) of the service."""

    @abstractmethod
    def publish(self, topic: str, event: dict) -> None: ...

    @abstractmethod
    def subscribe(self, topics: list[str]) -> Subscription: ...


# --- Identity and tenancy -----------------------------------------------------------------------

class PasswordHasher(ABC):
    @abstractmethod
    def hash(self, password: str) -> str: ...

    @abstractmethod
    def verify(self, password: str, hashed: str) -> bool: ...


class UserRepository(ABC):
    @abstractmethod
    def add(self, user: User) -> User:
        """Stores a new user and returns it with its id; Conflict if the email exists."""

    @abstractmethod
    def get(self, user_id: str) -> User | None: ...

    @abstractmethod
    def get_by_email(self, email: str) -> User | None: ...

    @abstractmethod
    def get_many(self, user_ids: list[str]) -> list[User]: ...

    @abstractmethod
    def update(self, user_id: str, **changes) -> User | None: ...

    @abstractmethod
    def search(self, query: str | None, page: PageRequest) -> Page[User]: ...


class SessionRepository(ABC):
    @abstractmethod
    def add(self, session: LoginSession) -> LoginSession: ...

    @abstractmethod
    def get(self, session_id: str) -> LoginSession | None: ...

    @abstractmethod
    def is_active(self, session_id: str) -> bool:
        """The one check every authenticated request pays for: one indexed lookup."""

    @abstractmethod
    def rotate(self, session_id: str, presented_jti: str, new_jti: str) -> bool:
        """Atomically swap the refresh jti if `presented_jti` is the current one."""

    @abstractmethod
    def revoke(self, session_id: str) -> None: ...

    @abstractmethod
    def revoke_all(self, user_id: str, except_session: str | None = None) -> None: ...

    @abstractmethod
    def list_active(self, user_id: str) -> list[LoginSession]: ...


class WorkspaceRepository(ABC):
    @abstractmethod
    def add(self, workspace: Workspace) -> Workspace: ...

    @abstractmethod
    def get(self, workspace_id: str, include_deleted: bool = False) -> Workspace | None: ...

    @abstractmethod
    def get_personal(self, user_id: str) -> Workspace | None: ...

    @abstractmethod
    def update(self, workspace_id: str, **changes) -> Workspace | None: ...

    @abstractmethod
    def list_for_user(self, user_id: str, page: PageRequest) -> Page[tuple[Workspace, WorkspaceRole]]:
        """The user's live workspaces with their role, in one round trip."""


class MembershipRepository(ABC):
    @abstractmethod
    def add(self, membership: Membership) -> Membership:
        """Conflict if the user is already a member."""

    @abstractmethod
    def get(self, workspace_id: str, user_id: str) -> Membership | None: ...

    @abstractmethod
    def list(self, workspace_id: str) -> list[Membership]: ...

    @abstractmethod
    def set_role(self, workspace_id: str, user_id: str, role: WorkspaceRole) -> None: ...

    @abstractmethod
    def remove(self, workspace_id: str, user_id: str) -> None: ...

    @abstractmethod
    def count_role(self, workspace_id: str, role: WorkspaceRole) -> int: ...


class Mailer(ABC):
    @abstractmethod
    def send(self, to: str, subject: str, body: str, token: str | None = None) -> None:
        """Deliver (or queue) a message; raises entities.errors.ServiceUnavailable on failure."""


class OneTimeTokenRepository(ABC):
    """Single-use tokens (password reset, e-mail verification), stored only as hashes."""

    @abstractmethod
    def add(self, purpose: str, token_hash: str, user_id: str, expires_at: datetime) -> None: ...

    @abstractmethod
    def find_valid(self, purpose: str, token_hash: str) -> str | None:
        """The user id of an unused, unexpired token, without spending it."""

    @abstractmethod
    def consume(self, purpose: str, token_hash: str) -> str | None:
        """Atomically spend an unused, unexpired token; its user id, or None."""

    @abstractmethod
    def discard_all(self, user_id: str, purpose: str) -> None:
        """Spend every outstanding token of this purpose for the user."""


class AuditLog(ABC):
    @abstractmethod
    def record(self, action: str, actor_id: str | None, target_type: str | None = None,
               target_id: str | None = None, workspace_id: str | None = None,
               ip: str | None = None, details: dict | None = None) -> None: ...

    @abstractmethod
    def search(self, actor: str | None, action: str | None, since: datetime | None,
               until: datetime | None, page: PageRequest) -> Page[dict]: ...


# --- Workspace provider keys -------------------------------------------------------------------

class Encryptor(ABC):
    """Symmetric encryption of secrets at rest."""

    @abstractmethod
    def encrypt(self, plaintext: str) -> str: ...

    @abstractmethod
    def decrypt(self, ciphertext: str) -> str:
        """Raises ValueError when the ciphertext was not made with a configured key."""


class ProviderKeyRepository(ABC):
    @abstractmethod
    def put(self, key: StoredProviderKey) -> StoredProviderKey:
        """Insert or replace the workspace's key for `key.provider`."""

    @abstractmethod
    def list(self, workspace_id: str) -> list[StoredProviderKey]: ...

    @abstractmethod
    def delete(self, workspace_id: str, provider: str) -> bool: ...


# --- LLM gateway --------------------------------------------------------------------------------

class LLMGateway(ABC):
    """Every model call. Raises entities.errors.UpstreamError / UpstreamTimeout /
    UpstreamRateLimited once the router's retries and fallbacks are spent."""

    @abstractmethod
    def models(self, credentials: dict[str, ProviderCredential]) -> list[ModelInfo]: ...

    @abstractmethod
    def default_model(self, credentials: dict[str, ProviderCredential]) -> str: ...

    @abstractmethod
    def complete(self, request: ChatRequest) -> ChatResult: ...

    @abstractmethod
    def stream(self, request: ChatRequest) -> Iterator[StreamChunk]:
        """Yields text deltas; the last chunk carries the finished ChatResult."""

    @abstractmethod
    def count_tokens(self, model: str, messages: list[dict]) -> int: ...

    @abstractmethod
    def context_window(self, model: str) -> int: ...


class UsageRepository(ABC):
    @abstractmethod
    def add_many(self, records: list[UsageRecord]) -> list[UsageRecord] | None:
        """Stores a batch; a record already stored (a retried batch) is skipped. Returns the
        records this call stored, or None when the implementation cannot tell (all of them)."""


class ProviderCredentials(ABC):
    """A workspace's provider keys, decrypted for a call."""

    @abstractmethod
    def for_workspace(self, workspace_id: str | None) -> dict[str, ProviderCredential]: ...


# --- API keys, budgets, analytics, metrics -----------------------------------------------------

class ApiKeyRepository(ABC):
    @abstractmethod
    def add(self, key: ApiKey) -> ApiKey: ...

    @abstractmethod
    def get(self, key_id: str) -> ApiKey | None:
        """A key by id, revoked or not."""

    @abstractmethod
    def list(self, workspace_id: str) -> list[ApiKey]:
        """The workspace's keys that are not revoked, newest first."""

    @abstractmethod
    def find_by_hash(self, key_hash: str, touch_at: datetime | None = None) -> ApiKey | None:
        """The key with this secret hash, revoked or not; with `touch_at`, a key that is not
        revoked gets `last_used_at = touch_at` in the same round trip."""

    @abstractmethod
    def revoke(self, workspace_id: str, key_id: str, at: datetime) -> ApiKey | None:
        """Marks a live key of the workspace revoked; None when there is no such key."""


class SpendRepository(ABC):
    """Money spent per calendar month, per workspace and per API key: counters, so a budget
    check reads one small document instead of summing usage."""

    @abstractmethod
    def add(self, increments: list[SpendIncrement]) -> None: ...

    @abstractmethod
    def spent(self, scope: SpendScope, ref_id: str, month: str) -> float: ...


class UsageStatistics(ABC):
    @abstractmethod
    def report(self, query: UsageQuery) -> UsageReport:
        """Usage records in the query's range grouped by its key (days ascending; models and
        users by cost, highest first), with totals."""


class Metrics(ABC):
    """What the service counts for Prometheus."""

    @abstractmethod
    def llm_call(self, record: UsageRecord) -> None:
        """One finished model call (answered or failed), as recorded for usage."""

    @abstractmethod
    def gateway_overhead(self, api: str, streamed: bool, seconds: float) -> None:
        """Time the service added to a model call: request handling minus the provider's time."""

    @abstractmethod
    def workflow_run(self, status: str) -> None: ...

    @abstractmethod
    def http_request(self, method: str, route: str, status: int, seconds: float) -> None: ...

    @abstractmethod
    def stream_opened(self, route: str) -> None: ...

    @abstractmethod
    def stream_closed(self, route: str) -> None: ...

    @abstractmethod
    def exposition(self) -> tuple[bytes, str]:
        """The Prometheus text format of every process of the service, and its content type."""


# --- Talks and messages -------------------------------------------------------------------------

@dataclass(frozen=True)
class TalkFilter:
    """Which of a user's talks to list: `workspace_ids` None means every workspace."""

    user_id: str
    workspace_ids: list[str] | None = None
    name_contains: str | None = None
    archived: bool | None = False  # None: archived or not
    deleted: bool = False


class TalkRepository(ABC):
    @abstractmethod
    def add(self, talk: Talk) -> Talk: ...

    @abstractmethod
    def get(self, talk_id: str, user_id: str, include_deleted: bool = False) -> Talk | None:
        """The talk if it belongs to `user_id` (anyone else's talk is simply not found)."""

    @abstractmethod
    def get_many(self, talk_ids: list[str], user_id: str) -> list[Talk]: ...

    @abstractmethod
    def update(self, talk_id: str, user_id: str, **changes) -> Talk | None: ...

    @abstractmethod
    def set_deleted(self, talk_id: str, user_id: str, deleted: bool) -> Talk | None: ...

    @abstractmethod
    def list(self, query: TalkFilter, page: PageRequest) -> Page[Talk]:
        """Pinned first, then newest activity first; items and total in one round trip."""

    @abstractmethod
    def name_if_unnamed(self, talk_id: str, name: str) -> None:
        """Sets the name only while the talk has none (first exchange wins, races are safe)."""

    @abstractmethod
    def record_messages(self, talk_id: str, added: int, at: datetime) -> None:
        """Counts `added` messages (negative: removed) and moves the talk's activity to `at`.
        (MessageRepository.add counts the messages it adds itself.)"""

    @abstractmethod
    def search_names(self, query: TalkFilter, text: str, skip: int,
                     limit: int) -> tuple[list[Talk], int]:
        """Live talks whose name contains `text`, newest activity first, and their total."""

    @abstractmethod
    def deleted_ids(self, user_id: str) -> list[str]: ...


class MessageRepository(ABC):
    @abstractmethod
    def add(self, message: Message) -> Message:
        """Stores the message as the newest of its talk, and counts it on the talk."""

    @abstractmethod
    def get(self, message_id: str, talk_id: str) -> Message | None:
        """A live message of that talk."""

    @abstractmethod
    def page(self, talk: Talk, limit: int, before: str | None) -> MessagePage:
        """Live messages older than message `before` (None: the newest), oldest first."""

    @abstractmethod
    def history(self, talk: Talk, up_to: str | None, limit: int) -> list[Message]:
        """Of the last `limit` live messages up to and including message `up_to` (None: the
        newest), those the model sees again (IN_CONTEXT statuses), oldest first."""

    @abstractmethod
    def all(self, talk_id: str) -> Iterator[Message]:
        """Every live message of the talk, oldest first."""

    @abstractmethod
    def update(self, message_id: str, **changes) -> Message | None: ...

    @abstractmethod
    def save_progress(self, message_id: str, content: str) -> ReplyControl:
        """Stores a streaming reply's text so far; says whether a stop was requested and
        whether anyone follows the reply from elsewhere."""

    @abstractmethod
    def add_follower(self, message_id: str, count: int) -> None:
        """Counts (count=1) or uncounts (count=-1) a follower of a streaming reply."""

    @abstractmethod
    def request_stop(self, talk_id: str) -> list[str]:
        """Flags the talk's streaming replies to stop; their ids."""

    @abstractmethod
    def streaming(self, talk_id: str) -> list[Message]: ...

    @abstractmethod
    def set_deleted(self, message_id: str, talk_id: str) -> bool: ...

    @abstractmethod
    def search(self, query: TalkFilter, text: str, exclude_talk_ids: list[str], skip: int,
               limit: int) -> tuple[list[Message], int]:
        """Live messages containing `text`, newest first, and their total."""


class FileContext(ABC):
    """What attached files add to a message for the model."""

    @abstractmethod
    def for_message(self, user_id: str, workspace_id: str, file_ids: list[str]) -> list[dict]:
        """OpenAI content parts ({"type": "text", "text": ...}) carrying the files' contents;
        NotFound for a file the user may not read."""


# --- Files --------------------------------------------------------------------------------------

class FileRepository(ABC):
    """File metadata; the bytes of every version live in BlobStorage."""

    @abstractmethod
    def add(self, file: File) -> File: ...

    @abstractmethod
    def get(self, file_id: str, include_deleted: bool = False) -> File | None: ...

    @abstractmethod
    def search(self, query: FileQuery, page: PageRequest) -> Page[File]:
        """Newest first."""

    @abstractmethod
    def update(self, file_id: str, **changes) -> File | None:
        """Changes a live file's metadata."""

    @abstractmethod
    def add_version(self, file_id: str, expected_version: int, version: FileVersion) -> File | None:
        """Makes `version` current if the live file is still at `expected_version`, else None."""

    @abstractmethod
    def set_deleted(self, file_id: str, deleted_at: datetime | None) -> File | None: ...

    @abstractmethod
    def deleted_before(self, cutoff: datetime, limit: int) -> list[File]:
        """Files deleted at or before `cutoff`."""

    @abstractmethod
    def remove(self, file_id: str) -> bool:
        """True only for the one caller that removed it, so its bytes are released once."""


class BlobStorage(ABC):
    """The bytes of files, written and read in chunks (never whole in memory)."""

    @abstractmethod
    def save(self, chunks: Iterable[bytes], filename: str) -> str:
        """Stores the chunks and returns the blob id; if iterating them raises, nothing stays."""

    @abstractmethod
    def open(self, blob_id: str) -> BinaryIO:
        """A readable, seekable stream of the blob; NotFound when it is gone."""

    @abstractmethod
    def delete(self, blob_id: str) -> None:
        """Removes the blob; nothing happens when it is already gone."""


class StorageUsage(ABC):
    """Bytes stored per workspace, kept as a counter so quota checks cost one lookup."""

    @abstractmethod
    def used(self, workspace_id: str) -> int: ...

    @abstractmethod
    def reserve(self, workspace_id: str, nbytes: int, quota: int) -> bool:
        """Atomically adds `nbytes` unless the total would pass `quota`; False then."""

    @abstractmethod
    def release(self, workspace_id: str, nbytes: int) -> None: ...


class ContentCheck(ABC):
    """Checks, chunk by chunk, that uploaded bytes really are of the type their name claims."""

    @abstractmethod
    def feed(self, chunk: bytes) -> None:
        """Raises UnsupportedMediaType as soon as the bytes cannot be of the claimed type."""

    @abstractmethod
    def finish(self) -> str:
        """The content type to store; UnsupportedMediaType if the whole content does not match."""


class ContentSniffer(ABC):
    @abstractmethod
    def check(self, extension: str) -> ContentCheck:
        """A fresh check for content named with `extension` ('.pdf')."""


class LinkSigner(ABC):
    @abstractmethod
    def sign(self, payload: dict) -> str: ...

    @abstractmethod
    def load(self, token: str) -> dict | None:
        """The signed payload, or None when the token was altered or not signed by us."""


class TextExtractor(ABC):
    @abstractmethod
    def can_extract(self, content_type: str) -> bool: ...

    @abstractmethod
    def extract(self, content_type: str, stream: BinaryIO, max_chars: int) -> tuple[str, bool]:
        """At most `max_chars` of the document's text, and whether there was more."""


# --- Workflows ----------------------------------------------------------------------------------

class WorkflowRepository(ABC):
    @abstractmethod
    def add(self, workflow: Workflow) -> Workflow: ...

    @abstractmethod
    def get(self, workflow_id: str, include_deleted: bool = False) -> Workflow | None: ...

    @abstractmethod
    def list(self, workspace_id: str, page: PageRequest, deleted: bool = False) -> Page[Workflow]:
        """Most recently updated first."""

    @abstractmethod
    def save(self, workflow_id: str, expected_version: int | None, **changes) -> Workflow | None:
        """Applies `changes` to a live workflow and bumps its version; None when it is gone.
        Conflict when `expected_version` is given and is no longer the current one."""

    @abstractmethod
    def set_deleted(self, workflow_id: str, deleted: bool) -> Workflow | None: ...


class ExecutionRepository(ABC):
    """Runs of workflows, claimed by workers with a lease.

    Every write a worker makes names its `worker_id`; it is refused (False/None) once another
    worker has taken the run over, so a worker that lost its lease can no longer change it."""

    @abstractmethod
    def add(self, execution: Execution, reserved_by: str | None, lease_s: float) -> Execution:
        """Stores a queued run; `reserved_by` a worker id: that worker holds the first lease."""

    @abstractmethod
    def get(self, execution_id: str) -> Execution | None: ...

    @abstractmethod
    def list_for_workflow(self, workflow_id: str, page: PageRequest) -> Page[Execution]:
        """Newest first."""

    @abstractmethod
    def claim(self, worker_id: str, lease_s: float, max_claims: int) -> Execution | None:
        """A queued run, or one whose lease expired, now leased to `worker_id` and `running`."""

    @abstractmethod
    def begin(self, execution: Execution, worker_id: str, lease_s: float) -> bool:
        """Marks a run this worker reserved as `running` with its node runs and start time."""

    @abstractmethod
    def heartbeat(self, execution_id: str, worker_id: str, lease_s: float,
                  node_runs: list[NodeRun] | None = None) -> str:
        """Extends the lease (and saves node runs): "ok", "cancel" (a cancel was asked for:
        the lease is not extended) or "lost" (another worker took over, or the run ended)."""

    @abstractmethod
    def finish(self, execution: Execution, worker_id: str) -> bool:
        """Stores the final status, outputs, node runs and times; False if the lease was lost."""

    @abstractmethod
    def release(self, execution_id: str, worker_id: str, node_runs: list[NodeRun]) -> None:
        """Hands an unfinished run back (this worker is stopping): queued again, at once."""

    @abstractmethod
    def cancel_if_idle(self, execution_id: str) -> Execution | None:
        """Cancels a run no worker is running (queued, or its lease expired); None otherwise."""

    @abstractmethod
    def request_cancel(self, execution_id: str) -> Execution | None:
        """Flags a running run for its worker to stop; None when it already finished."""

    @abstractmethod
    def fail_abandoned(self, max_claims: int, reason: str) -> list[Execution]:
        """Fails runs whose lease expired after `max_claims` claims, with `reason`."""


class TemplateRepository(ABC):
    @abstractmethod
    def add(self, template: Template) -> Template: ...

    @abstractmethod
    def get(self, template_id: str) -> Template | None: ...

    @abstractmethod
    def search(self, query: str | None, tag: str | None, sort: str,
               page: PageRequest) -> Page[Template]:
        """`sort`: "rating", "installs" or "recent"; `query` matches title, description, tags."""

    @abstractmethod
    def count_install(self, template_id: str) -> None: ...

    @abstractmethod
    def rate(self, template_id: str, user_id: str, stars: int, comment: str | None) -> Template | None:
        """One rating per user (a second replaces the first); the template's average and count
        stay consistent under concurrent ratings."""


class SchemaValidator(ABC):
    @abstractmethod
    def errors(self, schema: dict, instance: object) -> list[str]:
        """Readable messages ("retry.max_attempts: 0 is less than the minimum of 1"); [] if valid."""


class TemplateRenderer(ABC):
    """Sandboxed templates: no attribute access to internals, no I/O."""

    @abstractmethod
    def render(self, template: str, variables: dict) -> str:
        """Raises ValueError with a readable message for a broken or unsafe template."""

    @abstractmethod
    def variables_of(self, template: str) -> set[str]:
        """The top-level names the template reads; ValueError when it does not parse."""


class JsonQuery(ABC):
    @abstractmethod
    def find(self, data: object, path: str) -> list:
        """Every value `path` (JSONPath) matches; ValueError for a malformed path."""

    @abstractmethod
    def check(self, path: str) -> str | None:
        """Why `path` is not valid JSONPath, or None."""


class OutboundHttp(ABC):
    """HTTP to user-chosen URLs, refusing private, loopback, link-local, metadata, multicast and
    reserved addresses (after DNS resolution, on every redirect) unless allow-listed."""

    @abstractmethod
    def check_url(self, url: str) -> None:
        """Raises OutboundRefused when `url` may not be called (bad scheme, refused address)."""

    @abstractmethod
    def request(self, method: str, url: str, headers: dict[str, str] | None = None,
                body: bytes | None = None, timeout_s: float = 10.0,
                max_bytes: int = 1024 * 1024) -> HttpResponse:
        """OutboundRefused for a refused address; OutboundFailed for a network failure, a
        timeout, too many redirects or a body over `max_bytes`."""


class FileTexts(ABC):
    @abstractmethod
    def text_of(self, workspace_id: str, file_id: str, max_chars: int) -> str:
        """The text of a live file of `workspace_id`; NotFound for any other file."""


# --- Webhooks -----------------------------------------------------------------------------------

class WebhookRepository(ABC):
    @abstractmethod
    def add(self, webhook: Webhook) -> Webhook: ...

    @abstractmethod
    def get(self, workspace_id: str, webhook_id: str) -> Webhook | None: ...

    @abstractmethod
    def list(self, workspace_id: str) -> list[Webhook]: ...

    @abstractmethod
    def count(self, workspace_id: str) -> int: ...

    @abstractmethod
    def delete(self, workspace_id: str, webhook_id: str) -> bool: ...

    @abstractmethod
    def subscribed(self, workspace_id: str, event: str) -> list[Webhook]:
        """The workspace's webhooks that listen to `event`."""


class DeliveryRepository(ABC):
    """The persisted delivery queue, which is also the delivery log."""

    @abstractmethod
    def add_many(self, deliveries: list[Delivery]) -> None:
        """Enqueue; a second delivery of the same event to the same webhook is ignored."""

    @abstractmethod
    def claim_due(self, now: datetime, lease_until: datetime) -> Delivery | None:
        """Atomically take one pending delivery due by `now`, hiding it from other claimers
        until `lease_until` (if this process dies mid-attempt, it is retried after that)."""

    @abstractmethod
    def record_attempt(self, delivery_id: str, attempt: DeliveryAttempt, status: DeliveryStatus,
                       next_attempt_at: datetime | None) -> None: ...

    @abstractmethod
    def page(self, webhook_id: str, page: PageRequest) -> Page[Delivery]:
        """Newest first."""
