"""Importing conversations from other chat apps, and exporting all of a user's talks."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from entities.talk_import import ImportLimits
from use_cases.chat.ports import FileContext
from use_cases.chat.talks import Talks
from use_cases.files.ports import BlobStorage, LinkSigner
from use_cases.imports.background import BackgroundJobs
from use_cases.imports.exports import TalkExports
from use_cases.imports.importer import TalkImports
from use_cases.imports.ports import (
    ConversationReader,
    ExportJobRepository,
    ImportJobRepository,
    TalkArchive,
)
from use_cases.shared.ports import EventBus
from use_cases.workspaces.access import WorkspaceAccess


@dataclass(frozen=True)
class ImportUseCases:
    talk_imports: TalkImports
    talk_exports: TalkExports


def build_imports(*, talks: Talks, reader: ConversationReader, archive: TalkArchive,
                  import_jobs: ImportJobRepository, export_jobs: ExportJobRepository,
                  access: WorkspaceAccess, events: EventBus, file_context: FileContext,
                  storage: BlobStorage, signer: LinkSigner, limits: ImportLimits,
                  max_jobs: int, link_ttl: timedelta) -> ImportUseCases:
    imports = TalkImports(reader, archive, import_jobs, access, events, file_context,
                          model_ids=talks.model_ids, limits=limits,
                          runner=BackgroundJobs(max_jobs, "import"))
    exports = TalkExports(talks, export_jobs, storage, signer, events,
                          runner=BackgroundJobs(max_jobs, "export"), link_ttl=link_ttl)
    return ImportUseCases(talk_imports=imports, talk_exports=exports)
