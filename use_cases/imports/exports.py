""""Download my data": a zip of every talk of the caller, built in the background.

`start` records a job (202 `{export_id}`) and builds the zip on a background thread: one member
per talk, `talks/<name>-<id>.json`, each a `synapscale` document (the whole tree, importable back
one by one or as the zip itself), plus `README.txt`. The zip is stored like files' bytes, and
`status` gives a signed link to it (valid `link_ttl`) once the job has succeeded. A user keeps
one archive: starting a new export deletes the older ones' bytes. Progress and the end go to the
user's `/api/v1/ws/user` feed (`export.progress`, `export.finished`).
"""
from __future__ import annotations

import json
import logging
import os
import re
import tempfile
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import BinaryIO

from entities.clock import iso_utc, utcnow
from entities.errors import NotFound, TokenExpired
from entities.pagination import PageRequest
from entities.talk_import import ExportJob, JobStatus
from use_cases.chat.talks import Talks
from use_cases.files.ports import BlobStorage, LinkSigner
from use_cases.imports.background import BackgroundJobs
from use_cases.imports.ports import ExportJobRepository
from use_cases.shared.ports import EventBus

log = logging.getLogger(__name__)

PAGE = 100
ABANDONED = "The export stopped: the server process building it ended. Start it again"
README = """SynapScale export, {when}

Each file under talks/ is one talk in the `synapscale` format, version 1: the talk and every
message of its tree (all branches), as the API returns them. Import this zip, or any of its
files, with POST /api/v1/talks/import to bring the talks back.
"""


@dataclass(frozen=True)
class ExportDownload:
    filename: str
    size: int
    stream: BinaryIO


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:50] or "talk"


class TalkExports:
    def __init__(self, talks: Talks, jobs: ExportJobRepository, storage: BlobStorage,
                 signer: LinkSigner, bus: EventBus, runner: BackgroundJobs,
                 link_ttl: timedelta = timedelta(minutes=15), lease_s: float = 60.0,
                 clock: Callable[[], datetime] = utcnow):
        self.talks = talks
        self.jobs = jobs
        self.storage = storage
        self.signer = signer
        self.bus = bus
        self.runner = runner
        self.link_ttl = link_ttl
        self.lease = timedelta(seconds=lease_s)
        self.clock = clock

    def start(self, user_id: str, workspace_id: str | None) -> ExportJob:
        """202: the job. NotFound for a workspace the caller is not in; ServiceUnavailable when
        this process builds as many exports as it may."""
        if workspace_id is not None:
            self.talks.list(user_id, workspace_id, PageRequest(1, 1))  # membership check
        self.runner.reserve()
        try:
            job = self.jobs.add(ExportJob(id="", user_id=user_id, workspace_id=workspace_id),
                                self.clock() + self.lease)
        except BaseException:
            self.runner.release()
            raise
        try:
            self.runner.start(lambda: self.run(job))
        except BaseException:  # no job runs: none may stay `running`
            self.jobs.finish(job, JobStatus.FAILED, "The export failed unexpectedly")
            raise
        return job

    def status(self, user_id: str, job_id: str) -> tuple[ExportJob, str | None, datetime | None]:
        """The job, and when it has succeeded a signed download token and its expiry."""
        job = self.jobs.get(job_id, user_id)
        if job is None:
            raise NotFound("Export not found")
        if job.status is JobStatus.RUNNING and self.jobs.fail_abandoned(job.id, self.clock(),
                                                                         ABANDONED):
            job = self.jobs.get(job_id, user_id) or job
        if job.status is not JobStatus.SUCCEEDED:
            return job, None, None
        expires_at = (self.clock() + self.link_ttl).replace(microsecond=0)
        return job, self.signer.sign({"x": job.id, "e": int(expires_at.timestamp())}), expires_at

    def open_link(self, token: str) -> ExportDownload:
        """The zip a link grants; NotFound for an altered link or a replaced archive,
        TokenExpired for an expired one."""
        payload = self.signer.load(token)
        job_id = payload.get("x") if payload else None
        expiry = payload.get("e") if payload else None
        if not isinstance(job_id, str) or not isinstance(expiry, int) or len(job_id) > 64:
            raise NotFound("Download link not found")
        if self.clock() >= datetime.fromtimestamp(min(expiry, 2**40), UTC):
            raise TokenExpired("This download link has expired")
        job = self.jobs.get_any(job_id)
        if job is None or job.status is not JobStatus.SUCCEEDED or not job.blob_id:
            raise NotFound("Download link not found")
        stamp = (job.created_at or self.clock()).strftime("%Y%m%d-%H%M%S")
        return ExportDownload(f"synapscale-talks-{stamp}.zip", job.size or 0,
                              self.storage.open(job.blob_id))

    # --- the job ------------------------------------------------------------------------------

    def run(self, job: ExportJob) -> None:
        fd, path = tempfile.mkstemp(prefix="synapscale-export-", suffix=".zip")
        os.close(fd)
        try:
            with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
                archive.writestr("README.txt", README.format(when=iso_utc(self.clock())))
                for talk in self._talks(job):
                    document = self.talks.export_document(talk)
                    archive.writestr(f"talks/{_slug(talk.name)}-{talk.id}.json",
                                     json.dumps(document, ensure_ascii=False, indent=1))
                    job.exported += 1
                    if job.exported % 20 == 0:
                        self.jobs.progress(job, self.clock() + self.lease)
                        self._publish(job, "export.progress")
            old = self.jobs.previous_blobs(job.user_id, job.id)
            job.size = os.path.getsize(path)
            with open(path, "rb") as file:
                job.blob_id = self.storage.save(iter(lambda: file.read(256 * 1024), b""),
                                                "talks.zip")
            for blob_id in old:
                self._delete(blob_id)
            job.status, job.error = JobStatus.SUCCEEDED, None
        except Exception:
            log.exception("export %s failed", job.id)
            job.status, job.error = JobStatus.FAILED, "The export failed unexpectedly"
        finally:
            os.unlink(path)
        self.jobs.finish(job, job.status, job.error)
        self._publish(job, "export.finished")

    def _talks(self, job: ExportJob) -> Iterator:
        page = 1
        while True:
            batch = self.talks.list(job.user_id, job.workspace_id, PageRequest(page, PAGE),
                                    archived=None)
            if page == 1:
                job.total = batch.total
            yield from batch.items
            if page * PAGE >= batch.total or not batch.items:
                return
            page += 1

    def _delete(self, blob_id: str) -> None:
        try:
            self.storage.delete(blob_id)
        except Exception:  # an old archive left behind costs storage, not correctness
            log.exception("could not delete an old export's bytes")

    def _publish(self, job: ExportJob, kind: str) -> None:
        try:
            self.bus.publish(f"user:{job.user_id}", {"type": kind, "export": {
                "id": job.id, "status": job.status.value, "total": job.total,
                "exported": job.exported}})
        except Exception:
            log.exception("could not publish %s", kind)
