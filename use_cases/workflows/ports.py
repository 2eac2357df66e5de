"""Interfaces the workflow use cases need: workflows, runs and templates, and the
sandboxed tools nodes use (schemas, templates, JSONPath, file texts).

Real implementations live in repositories/ and adapters/; unit tests use in-memory fakes.
"""
from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable

from entities.deadline import Deadline
from entities.pagination import Page, PageRequest
from entities.workflow import Execution, NodeRun, Template, Workflow


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
    """Sandboxed templates: no attribute access to internals, no I/O, bounded time and memory."""

    @abstractmethod
    def render(self, template: str, variables: dict, tenant: str,
               deadline: Deadline | None = None) -> str:
        """`tenant`: the workspace whose work it is (resources are shared fairly between
        tenants). Raises ValueError with a readable message for a broken or unsafe template, and
        LimitExceeded when rendering passes `deadline` (or the renderer's own time limit), its
        CPU time or its memory."""

    @abstractmethod
    def variables_of(self, template: str) -> set[str]:
        """The top-level names the template reads; ValueError when it does not parse."""


class JsonQuery(ABC):
    @abstractmethod
    def find(self, data: object, path: str, tenant: str, deadline: Deadline | None = None) -> list:
        """Every value `path` (JSONPath) matches; ValueError for a malformed path, LimitExceeded
        as for TemplateRenderer.render."""

    @abstractmethod
    def check(self, path: str) -> str | None:
        """Why `path` is not valid JSONPath, or None."""


class FileTexts(ABC):
    @abstractmethod
    def text_of(self, workspace_id: str, file_id: str, max_chars: int) -> str:
        """The text of a live file of `workspace_id` (extracted once per version); NotFound for
        any other file, LimitExceeded when its text could not be extracted within the limits."""


class SecretDetector(ABC):
    """A maintained secret-detection library's rules (adapters/secret_detector.py: the plugins
    of Yelp's detect-secrets), for what a published template must not carry."""

    @abstractmethod
    def find(self, text: str, tenant: str) -> list[tuple[int, int]]:
        """Where credentials are in free text: (start, end) of each, in order. `tenant`: the
        workspace whose text it is (the scan's resources are shared fairly between tenants);
        LimitExceeded when the scan passes its time or memory limit."""

    @abstractmethod
    def is_secret(self, value: str, tenant: str, name: str = "") -> bool:
        """Whether `value`, a whole value (of the header, parameter or key `name`, when it has
        one), is or holds a credential; `tenant` and LimitExceeded as for `find`."""


class WorkflowAgents(ABC):
    """Agents as workflow `agent` nodes see them (implemented over the agents area)."""

    @abstractmethod
    def answer(self, user_id: str, workspace_id: str, agent_id: str, prompt: str,
               cancelled: Callable[[], bool]) -> str:
        """The agent's final answer to `prompt`, its tools run as `user_id` (the run's
        creator); every round metered like any model call. NotFound for an agent of another
        workspace or one the user cannot read; what a model call raises otherwise."""
