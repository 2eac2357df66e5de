"""`flask --app app init-db`, `flask --app app migrate` and `flask --app app seed-demo`."""
from __future__ import annotations

import logging
from collections.abc import Callable

import click
from flask import Flask

from data.demo import ProductionRefused, seed_demo
from data.migrate import migrate, status


def register_commands(app: Flask, ensure_indexes: Callable) -> None:
    @app.cli.command("init-db")
    def init_db() -> None:
        """Create every collection's indexes (safe to run again)."""
        container = app.extensions["synapscale"]
        ensure_indexes(container)
        click.echo(f"indexes ensured in database {container.settings.mongodb_database!r}")

    @app.cli.command("seed-demo")
    def seed_demo_command() -> None:
        """Create the ChatAI demo users (admin, analyst, user) and their workspaces."""
        try:
            outcome = seed_demo(app.extensions["synapscale"])
        except ProductionRefused as refusal:
            raise click.ClickException(str(refusal)) from None
        for demo, created in outcome:
            state = "created" if created else "already there"
            click.echo(f"{demo.email} ({demo.role.value}, password {demo.password}): {state}")

    @app.cli.command("migrate")
    @click.option("--to", "target", default=None,
                  help="Migrate up (or back down) to this migration; default: apply every one.")
    @click.option("--status", "show_status", is_flag=True,
                  help="List the migrations and when each was applied; change nothing.")
    def migrate_command(target: str | None, show_status: bool) -> None:
        """Bring the stored data to this version's layout (data/migrations/). Run it after
        upgrading; safe to run again, and on a live database (document by document)."""
        container = app.extensions["synapscale"]
        database = container.settings.mongodb_database
        if not show_status:
            handler = _EchoHandler()
            loggers = [logging.getLogger("data"), logging.getLogger("pymongo_migrate")]
            for logger in loggers:  # to the terminal only, not also through the app's log
                logger.addHandler(handler)
                logger.setLevel(logging.INFO)
                logger.propagate = False
            try:
                changed = migrate(container.client, database, target)
            except ValueError as error:
                raise click.ClickException(str(error)) from None
            finally:
                for logger in loggers:
                    logger.removeHandler(handler)
                    logger.propagate = True
            click.echo(f"{len(changed)} migration(s) run in database {database!r}"
                       + (f": {', '.join(changed)}" if changed else "; already up to date"))
        for name, applied in status(container.client, database):
            click.echo(f"{name}: {'applied ' + applied.isoformat() if applied else 'not applied'}")


class _EchoHandler(logging.Handler):
    """Progress of a migration on the terminal."""

    def emit(self, record: logging.LogRecord) -> None:
        click.echo(self.format(record))
