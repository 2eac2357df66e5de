"""The text of files, read once per version and kept.

Reading a document's text (a PDF above all) is the costly part of using it as context: it is
done the first time a version is used, up to `max_chars`, and stored with the version's blob id;
every later message or workflow run slices what was stored. A version whose text could not be
read within the limits keeps the reason, so it is not tried again on every use.
"""
from __future__ import annotations

from entities.errors import LimitExceeded
from entities.file import ExtractedText, File
from use_cases.files.ports import BlobStorage, ExtractedTextRepository, TextExtractor


class DocumentTexts:
    def __init__(self, storage: BlobStorage, extractor: TextExtractor,
                 texts: ExtractedTextRepository, max_chars: int):
        self.storage = storage
        self.extractor = extractor
        self.texts = texts
        self.max_chars = max_chars  # what is kept of a version's text

    def can_extract(self, content_type: str) -> bool:
        return self.extractor.can_extract(content_type)

    def text_of(self, file: File, max_chars: int) -> tuple[str, bool]:
        """At most `max_chars` of the current version's text and whether some was left out;
        LimitExceeded when its text could not be read within the limits (then or earlier)."""
        version = file.current_version
        stored = self.texts.get(version.blob_id)
        if stored is None:
            stored = self._extract(version.blob_id, file.content_type, file.workspace_id)
            self.texts.put(version.blob_id, stored)
        if stored.error is not None:
            raise LimitExceeded(stored.error, stored.error_code or "limit_exceeded")
        return stored.text[:max_chars], stored.truncated or len(stored.text) > max_chars

    def forget(self, blob_ids: list[str]) -> None:
        """Drops the texts of versions whose bytes are gone."""
        self.texts.delete(blob_ids)

    def _extract(self, blob_id: str, content_type: str, tenant: str) -> ExtractedText:
        try:
            with self.storage.open(blob_id) as stream:
                text, truncated = self.extractor.extract(content_type, stream, self.max_chars,
                                                         tenant)
        except LimitExceeded as error:
            return ExtractedText("", False, error=error.message, error_code=error.code)
        return ExtractedText(text, truncated)
