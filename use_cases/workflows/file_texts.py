"""The text of a workspace file, for the `file_text` workflow node."""
from __future__ import annotations

from entities.errors import NotFound, UnsupportedMediaType
from use_cases.files.ports import BlobStorage, FileRepository, TextExtractor
from use_cases.workflows.ports import FileTexts


class WorkspaceFileTexts(FileTexts):
    def __init__(self, files: FileRepository, storage: BlobStorage, extractor: TextExtractor):
        self.files = files
        self.storage = storage
        self.extractor = extractor

    def text_of(self, workspace_id: str, file_id: str, max_chars: int) -> str:
        file = self.files.get(file_id)
        if file is None or file.workspace_id != workspace_id:
            raise NotFound(f"File {file_id} not found in this workspace")
        if not self.extractor.can_extract(file.content_type):
            raise UnsupportedMediaType(f"{file.filename} ({file.content_type}) has no text to read")
        with self.storage.open(file.current_version.blob_id) as stream:
            text, _truncated = self.extractor.extract(file.content_type, stream, max_chars)
        return text
