"""File maintenance commands: `flask --app app purge-files` frees the bytes of files deleted long
enough ago; `flask --app app move-files --to s3|gridfs` moves file bytes between storages."""
from __future__ import annotations

import time
from datetime import timedelta

import click
from flask.cli import with_appcontext

from controllers.deps import settings, use_cases
from entities.errors import ValidationFailed
from entities.file import File, FileVersion


@click.command("purge-files")
@click.option("--days", type=click.IntRange(min=0), default=None,
              help="Purge files deleted more than this many days ago "
                   "(default: FILE_PURGE_AFTER_DAYS).")
@with_appcontext
def purge_files_command(days: int | None) -> None:
    days = settings().file_purge_after_days if days is None else days
    purged = use_cases().files.purge_deleted(days)
    click.echo(f"Purged {purged} file(s) deleted more than {days} day(s) ago.")


@click.command("move-files")
@click.option("--to", "target", type=click.Choice(["s3", "gridfs"]), required=True,
              help="The storage to move every file version's bytes to.")
@click.option("--grace-seconds", type=click.IntRange(min=0), default=None,
              help="How long a moved blob's old copy is kept for the reads that opened it "
                   "before the move (default: FILE_LINK_TTL_S, as long as a link lives).")
@click.option("--no-wait", is_flag=True,
              help="Do not wait out the grace period: old copies are deleted by a later run.")
@click.option("--verbose", "-v", is_flag=True, help="One line per version moved.")
@with_appcontext
def move_files_command(target: str, grace_seconds: int | None, no_wait: bool,
                       verbose: bool) -> None:
    """Move the bytes of every file (every version, deleted files too) to another storage,
    while the service runs. Set FILE_STORAGE to the target first (new uploads go there), keep
    S3_BUCKET set while any file is still in S3, then run this.

    Each copy is checked against the sha256 recorded at upload (hashed while written, and again
    read back from the target) before the file points at it; the old copy is deleted after the
    grace period. Interrupted (Ctrl-C, a storage error), it resumes when run again: moved
    versions are skipped and no partial copy stays. Exits 1 if a version could not be moved
    (a wrong hash or a missing blob: listed, left where it was)."""
    moves = use_cases().blob_moves
    grace = timedelta(seconds=settings().file_link_ttl_s if grace_seconds is None
                      else grace_seconds)

    def progress(file: File, version: FileVersion, outcome: str) -> None:
        if verbose:
            click.echo(f"{outcome}: {file.id} v{version.number} ({version.size} bytes)")

    if settings().file_storage != target:
        click.echo(f"Note: FILE_STORAGE is {settings().file_storage}, so new uploads still go "
                   "there; set it to the target (and restart) to move everything.", err=True)
    try:
        report = moves.move_all(target, progress)
    except ValidationFailed as error:
        raise click.UsageError(f"{error.message}: set S3_BUCKET (and S3_ENDPOINT_URL, S3_REGION, "
                               "the AWS credentials) to use S3") from None
    click.echo(f"Moved {report.moved} version(s) to {target}; {report.already_there} were there "
               f"already, {report.gone} were purged meanwhile, {len(report.failed)} failed.")
    for failure in report.failed:
        click.echo(f"failed: {failure}", err=True)
    if report.moved and not no_wait and grace:
        click.echo(f"Waiting {int(grace.total_seconds())} s before deleting the old copies...")
        time.sleep(grace.total_seconds())
    deleted = moves.release_due(grace)  # this run's old copies, unless --no-wait; earlier runs'
    click.echo(f"Deleted {deleted} old cop{'y' if deleted == 1 else 'ies'}.")
    if report.failed:
        raise SystemExit(1)
