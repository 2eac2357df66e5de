"""The three demo users of the ChatAI document, each with their personal workspace."""
from __future__ import annotations

from dataclasses import dataclass

from entities.user import GlobalRole


@dataclass(frozen=True)
class DemoUser:
    name: str
    email: str
    password: str
    role: GlobalRole


DEMO_USERS = (
    DemoUser("Admin User", "admin@observatorio.fiec.org.br", "admin123", GlobalRole.ADMIN),
    DemoUser("Maria Silva", "maria.silva@observatorio.fiec.org.br", "analyst123",
             GlobalRole.ANALYST),
    DemoUser("João Santos", "joao.santos@empresa.com.br", "user123", GlobalRole.USER),
)


class ProductionRefused(RuntimeError):
    pass


def seed_demo(container) -> list[tuple[DemoUser, bool]]:
    """Creates the demo users that do not exist yet; (user, created) for each. Idempotent.

    The passwords are the ones the ChatAI document publishes (user123 is shorter than the
    registration rule allows), so this refuses to run in production."""
    if container.settings.is_production:
        raise ProductionRefused("seed-demo refuses to run with APP_ENV=production")
    outcome = []
    for demo in DEMO_USERS:
        existing = container.users.get_by_email(demo.email)
        if existing is None:
            container.accounts.create_account(demo.email, demo.password, demo.name, demo.role,
                                              email_verified=True, enforce_password_rule=False)
        elif container.workspace_repo.get_personal(existing.id) is None:
            container.accounts.create_personal_workspace(existing)
        outcome.append((demo, existing is None))
    return outcome
