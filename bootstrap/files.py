"""Files: upload and versions, signed downloads, and a file's content as other areas read it
(attachments given to a model, the text a workflow node reads)."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from use_cases.chat.file_context import AttachedFiles
from use_cases.files.blob_moves import BlobMoves
from use_cases.files.blob_stores import BlobStores
from use_cases.files.downloads import FileDownloads
from use_cases.files.files import Files
from use_cases.files.ingest import FileIngest, FilePolicy
from use_cases.files.ports import (
    ContentSniffer,
    ExtractedTextRepository,
    FileRepository,
    LinkSigner,
    ReleasedBlobs,
    StorageUsage,
    TextExtractor,
)
from use_cases.files.texts import DocumentTexts
from use_cases.shared.ports import AuditLog, EventBus
from use_cases.workflows.file_texts import WorkspaceFileTexts
from use_cases.workspaces.access import WorkspaceAccess


@dataclass(frozen=True)
class FileLimits:
    policy: FilePolicy  # size, extensions, workspace quota
    link_ttl: timedelta  # download links
    direct_links: bool  # links straight to the storage (S3 presigned) where it gives them
    context_max_chars: int  # text of the files attached to one message
    context_max_image_bytes: int
    text_max_chars: int  # text kept per file version


@dataclass(frozen=True)
class FileUseCases:
    files: Files
    file_downloads: FileDownloads
    file_context: AttachedFiles  # chat's FileContext port
    file_texts: WorkspaceFileTexts  # workflows' FileTexts port
    blob_moves: BlobMoves  # `flask move-files`


def build_files(*, file_repo: FileRepository, storage: BlobStores, storage_usage: StorageUsage,
                released_blobs: ReleasedBlobs, sniffer: ContentSniffer, signer: LinkSigner,
                texts: ExtractedTextRepository, extractor: TextExtractor, access: WorkspaceAccess,
                events: EventBus, audit: AuditLog, limits: FileLimits) -> FileUseCases:
    """`storage`: every configured blob storage, new bytes going to FILE_STORAGE's."""
    ingest = FileIngest(storage, storage_usage, sniffer, limits.policy)
    document_texts = DocumentTexts(storage, extractor, texts, max_chars=limits.text_max_chars)
    return FileUseCases(
        files=Files(file_repo, ingest, document_texts, access, events, audit),
        file_downloads=FileDownloads(file_repo, storage, signer, access, ttl=limits.link_ttl,
                                     direct_links=limits.direct_links),
        file_context=AttachedFiles(file_repo, storage, document_texts, access,
                                   max_chars=limits.context_max_chars,
                                   max_image_bytes=limits.context_max_image_bytes),
        file_texts=WorkspaceFileTexts(file_repo, document_texts),
        blob_moves=BlobMoves(file_repo, storage, released_blobs, texts),
    )
