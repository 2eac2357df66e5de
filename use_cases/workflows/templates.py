"""The template marketplace: workflows published for every user, installed into workspaces,
rated 1-5 once per user."""
from __future__ import annotations

from entities.actor import Actor
from entities.clock import utcnow
from entities.errors import NotFound, ValidationFailed
from entities.file import normalise_tags
from entities.pagination import Page, PageRequest
from entities.workflow import Template, Workflow
from entities.workspace import WorkspaceRole
from use_cases.identity.ports import UserRepository
from use_cases.workflows.ports import SecretDetector, TemplateRepository
from use_cases.workflows.template_sanitizer import strip_secrets
from use_cases.workflows.workflows import Workflows

SORTS = ("rating", "installs", "recent")


class Templates:
    def __init__(self, templates: TemplateRepository, workflows: Workflows, users: UserRepository,
                 secrets: SecretDetector):
        self.templates = templates
        self.workflows = workflows
        self.users = users
        self.secrets = secrets

    def publish(self, actor: Actor, workflow_id: str, title: str, description: str,
                tags: list[str]) -> Template:
        workflow, _ = self.workflows.require(actor.user_id, workflow_id, WorkspaceRole.MEMBER)
        author = self.users.get(actor.user_id)
        now = utcnow()
        return self.templates.add(Template(
            id="", title=title, description=description, tags=_tags(tags),
            author_id=actor.user_id, author_name=author.name if author else "",
            graph=strip_secrets(workflow.graph, self.secrets, workflow.workspace_id),
            source_workflow_id=workflow.id,
            created_at=now, updated_at=now))

    def search(self, query: str | None, tag: str | None, sort: str,
               page: PageRequest) -> Page[Template]:
        if sort not in SORTS:
            raise ValidationFailed("Unknown sort", {"sort": [f"One of {', '.join(SORTS)}."]})
        return self.templates.search(query or None, tag or None, sort, page)

    def get(self, template_id: str) -> Template:
        template = self.templates.get(template_id)
        if template is None:
            raise NotFound("Template not found")
        return template

    def install(self, actor: Actor, template_id: str, workspace_id: str | None) -> Workflow:
        template = self.get(template_id)
        workflow = self.workflows.create(actor, workspace_id, template.title, template.graph,
                                         description=template.description)
        self.templates.count_install(template.id)
        return workflow

    def rate(self, actor: Actor, template_id: str, stars: int, comment: str | None) -> Template:
        rated = self.templates.rate(template_id, actor.user_id, stars, comment)
        if rated is None:
            raise NotFound("Template not found")
        return rated


def _tags(tags: list[str]) -> list[str]:
    return [tag.lower() for tag in normalise_tags(tags)]
