"""Files attached to a chat message, as content parts for the model.

Documents become text parts, trimmed so that all of them together fit a character budget (each
file gets an equal share of what is left, and what one does not use passes on to the next).
Images become `image_url` parts with a data URL, for vision models; callers sending to a model
without vision drop those parts.
"""
from __future__ import annotations

import base64

from entities.errors import LimitExceeded, NotFound
from entities.file import File
from use_cases.chat.ports import FileContext
from use_cases.files.ports import BlobStorage, FileRepository
from use_cases.files.texts import DocumentTexts
from use_cases.workspaces.access import WorkspaceAccess

IMAGE_TYPES = ("image/png", "image/jpeg", "image/gif", "image/webp")
TRUNCATED = "\n[... truncated to fit the context]"


class AttachedFiles(FileContext):
    def __init__(self, files: FileRepository, storage: BlobStorage, texts: DocumentTexts,
                 access: WorkspaceAccess, max_chars: int, max_image_bytes: int):
        self.files = files
        self.storage = storage  # images are sent as they are
        self.texts = texts
        self.access = access
        self.max_chars = max_chars
        self.max_image_bytes = max_image_bytes

    def for_message(self, user_id: str, workspace_id: str, file_ids: list[str]) -> list[dict]:
        if not file_ids:
            return []
        self.access.require(user_id, workspace_id)
        files = [self._file(file_id, workspace_id) for file_id in dict.fromkeys(file_ids)]
        documents = sum(1 for f in files if self.texts.can_extract(f.content_type))
        budget = self.max_chars
        parts = []
        for file in files:
            if file.content_type in IMAGE_TYPES:
                parts.append(self._image(file))
            elif self.texts.can_extract(file.content_type):
                share = budget // documents
                documents -= 1
                text = self._text(file, share)
                budget -= len(text)
                parts.append({"type": "text", "text": text})
            else:
                parts.append(_note(file, "its content cannot be read as text"))
        return parts

    def attachments(self, workspace_id: str, file_ids: list[str]) -> dict[str, dict]:
        found = {}
        for file_id in dict.fromkeys(file_ids):
            file = self.files.get(file_id, include_deleted=True)
            if file is not None and file.workspace_id == workspace_id:
                found[file_id] = {"filename": file.filename, "content_type": file.content_type,
                                  "size": file.size}
        return found

    def _file(self, file_id: str, workspace_id: str) -> File:
        file = self.files.get(file_id)
        if file is None or file.workspace_id != workspace_id:
            raise NotFound("File not found", {"file_ids": [file_id]})
        return file

    def _text(self, file: File, share: int) -> str:
        header = f"[Attached file: {file.filename}]\n"
        room = share - len(header) - len(TRUNCATED)
        if room <= 0:
            return _note(file, "left out: no room left in the context")["text"]
        try:
            text, truncated = self.texts.text_of(file, room)
        except LimitExceeded as error:
            return _note(file, f"its text could not be read: {error.message}")["text"]
        return header + text + (TRUNCATED if truncated else "")

    def _image(self, file: File) -> dict:
        if file.size > self.max_image_bytes:
            return _note(file, f"an image larger than {self.max_image_bytes} bytes, left out")
        with self.storage.open(file.current_version.blob_id) as stream:
            encoded = base64.b64encode(stream.read(self.max_image_bytes)).decode("ascii")
        return {"type": "image_url",
                "image_url": {"url": f"data:{file.content_type};base64,{encoded}"}}


def _note(file: File, what: str) -> dict:
    return {"type": "text", "text": f"[Attached file: {file.filename} — {what}]"}
