"""The text of a workspace file, for the `file_text` workflow node."""
from __future__ import annotations

from entities.errors import NotFound, UnsupportedMediaType
from use_cases.files.ports import FileRepository
from use_cases.files.texts import DocumentTexts
from use_cases.workflows.ports import FileTexts


class WorkspaceFileTexts(FileTexts):
    def __init__(self, files: FileRepository, texts: DocumentTexts):
        self.files = files
        self.texts = texts

    def text_of(self, workspace_id: str, file_id: str, max_chars: int) -> str:
        file = self.files.get(file_id)
        if file is None or file.workspace_id != workspace_id:
            raise NotFound(f"File {file_id} not found in this workspace")
        if not self.texts.can_extract(file.content_type):
            raise UnsupportedMediaType(f"{file.filename} ({file.content_type}) has no text to read")
        text, _truncated = self.texts.text_of(file, max_chars)
        return text
