"""Fakes for importing and exporting talks (use_cases/imports/ports.py), and `ImportWorld`:
the import and export use cases built by bootstrap.imports on the talk fakes.

The repositories are the MongoDB ones over the in-memory (mongomock) database (checked equal on
the wire in tests/contract/test_import_repositories.py); the reader is the real one (it only
reads files); jobs run inline, on the caller's thread, so a unit test sees them finished."""
from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

from adapters.conversation_stream import StreamedConversations
from bootstrap.imports import build_imports
from entities.talk_import import ImportLimits
from repositories.talk_imports import MongoExportJobs, MongoImportJobs, MongoTalkArchive
from tests.fakes.chat import TalkWorld
from tests.fakes.database import on_mongomock
from tests.fakes.files import FakeLinkSigner, MongomockBlobStorage
from use_cases.imports.background import BackgroundJobs


class InlineJobs(BackgroundJobs):
    """Runs each job at once on the caller's thread."""

    def start(self, job: Callable[[], None]) -> threading.Thread:
        try:
            job()
        finally:
            self.release()
        return threading.current_thread()


@dataclass
class ImportWorld:
    spool_dir: Path
    talk_world: TalkWorld = field(default_factory=TalkWorld)
    limits: ImportLimits = field(default_factory=ImportLimits)

    def __post_init__(self):
        db = self.talk_world.identity.db
        self.archive = on_mongomock(MongoTalkArchive, db)
        self.import_jobs = on_mongomock(MongoImportJobs, db)
        self.export_jobs = on_mongomock(MongoExportJobs, db)
        self.storage = on_mongomock(MongomockBlobStorage, db)
        self.reader = StreamedConversations(self.limits, str(self.spool_dir))
        built = build_imports(
            talks=self.talk_world.talks, reader=self.reader, archive=self.archive,
            import_jobs=self.import_jobs, export_jobs=self.export_jobs,
            access=self.talk_world.identity.access, events=self.talk_world.events,
            file_context=self.talk_world.file_context, storage=self.storage,
            signer=FakeLinkSigner(), limits=self.limits, max_jobs=2,
            link_ttl=timedelta(minutes=15))
        self.imports = built.talk_imports
        self.exports = built.talk_exports
        self.imports.runner = InlineJobs(2, "import")
        self.exports.runner = InlineJobs(2, "export")
