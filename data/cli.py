"""`flask --app app init-db` and `flask --app app seed-demo`."""
from __future__ import annotations

from collections.abc import Callable

import click
from flask import Flask

from data.demo import ProductionRefused, seed_demo


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
