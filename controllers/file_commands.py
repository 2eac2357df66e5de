"""`flask --app app purge-files`: free the bytes of files deleted long enough ago."""
from __future__ import annotations

import click
from flask.cli import with_appcontext

from controllers.deps import settings, use_cases


@click.command("purge-files")
@click.option("--days", type=click.IntRange(min=0), default=None,
              help="Purge files deleted more than this many days ago "
                   "(default: FILE_PURGE_AFTER_DAYS).")
@with_appcontext
def purge_files_command(days: int | None) -> None:
    days = settings().file_purge_after_days if days is None else days
    purged = use_cases().files.purge_deleted(days)
    click.echo(f"Purged {purged} file(s) deleted more than {days} day(s) ago.")
