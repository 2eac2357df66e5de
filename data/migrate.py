"""Versioned data migrations (`flask --app app migrate`), run by pymongo-migrate.

Each migration is a module in data/migrations/ with a `name`, its `dependencies` (the one before
it) and `upgrade(db)` / `downgrade(db)`. pymongo-migrate records the applied ones in the
`migrations` collection, so a second run applies nothing; each migration is idempotent on its own
too (run it on a live database: it converts document by document), so two runs at once, or a run
interrupted and started again, leave the same data.
"""
from __future__ import annotations

from datetime import datetime
from pathlib import Path

from pymongo import MongoClient
from pymongo_migrate.mongo_migrate import MongoMigrate

MIGRATIONS_DIR = Path(__file__).parent / "migrations"
COLLECTION = "migrations"


def migrator(client: MongoClient, database: str) -> MongoMigrate:
    return MongoMigrate(client, database, migrations_dir=str(MIGRATIONS_DIR),
                        migrations_collection=COLLECTION)


def status(client: MongoClient, database: str) -> list[tuple[str, datetime | None]]:
    """Every migration, oldest first, with when it was applied (None: not applied)."""
    migrate = migrator(client, database)
    return [(migration.name, migrate.get_state(migration).applied)
            for migration in migrate.get_migrations()]


def migrate(client: MongoClient, database: str, target: str | None = None) -> list[str]:
    """Applies the migrations not applied yet, up to `target` (default: all); with a `target`
    already applied, reverts the ones after it instead. Returns the names whose state changed.
    Raises ValueError for an unknown target."""
    before = dict(status(client, database))
    migrator(client, database).migrate(target)
    return [name for name, applied in status(client, database) if (applied is None) != (before[name] is None)]
