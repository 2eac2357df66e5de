"""Search in files: the best passages of a set of files for a query, with where they are.

The text of each file comes from DocumentTexts (extracted once per version and kept). It is cut
into passages of about `passage_chars` characters that overlap by `overlap_chars`, ending at a
paragraph, line, sentence or word boundary when one is near, and the passages of all files are
ranked together by a full-text ranker (BM25, adapters/bm25_ranker.py). Each passage keeps its file
and position: `start`/`end` character offsets in the file's text and, when the text marks its
pages with form feeds, the `page` (1-based).

Only files the caller can read are searched: each must be readable by `user_id` and belong to the
workspace searched in; any other id is reported as not found, without its name. Everything is
bounded: the number of files, the characters read of each and in all, and `k`.
"""
from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field

from entities.errors import LimitExceeded, NotFound, ValidationFailed
from entities.file import File
from use_cases.files.access import FileAccess
from use_cases.files.texts import DocumentTexts

BOUNDARIES = ("\n\n", "\n", ". ", " ")


class PassageRanker(ABC):
    @abstractmethod
    def rank(self, query: str, passages: list[str], k: int) -> list[tuple[int, float]]:
        """At most `k` (index in `passages`, score) pairs, best first; passages that share no
        term with the query are left out (so the list may be empty)."""


@dataclass(frozen=True)
class Passage:
    file_id: str
    filename: str
    start: int  # character offset in the file's text
    end: int
    text: str
    score: float
    page: int | None = None

    def as_dict(self) -> dict:
        position: dict = {"start": self.start, "end": self.end}
        if self.page is not None:
            position["page"] = self.page
        return {"file_id": self.file_id, "filename": self.filename, "position": position,
                "score": round(self.score, 4), "text": self.text}


@dataclass(frozen=True)
class SearchOutcome:
    passages: list[Passage]
    searched: int  # files whose text was searched
    skipped: list[dict] = field(default_factory=list)  # [{file_id, filename?, reason}]

    def as_dict(self) -> dict:
        return {"passages": [p.as_dict() for p in self.passages],
                "searched_files": self.searched, "skipped_files": self.skipped}


class FileSearch:
    def __init__(self, access: FileAccess, texts: DocumentTexts, ranker: PassageRanker,
                 max_files: int = 20, max_chars_per_file: int = 200_000,
                 max_total_chars: int = 1_000_000, passage_chars: int = 1000,
                 overlap_chars: int = 150, max_k: int = 10, max_query_chars: int = 1000):
        self.access = access
        self.texts = texts
        self.ranker = ranker
        self.max_files = max_files
        self.max_chars_per_file = max_chars_per_file
        self.max_total_chars = max_total_chars
        self.passage_chars = passage_chars
        self.overlap_chars = overlap_chars
        self.max_k = max_k
        self.max_query_chars = max_query_chars

    def search(self, user_id: str, workspace_id: str, file_ids: list[str], query: str,
               k: int = 5) -> SearchOutcome:
        """The `k` (1..max_k) best passages for `query` in the files `file_ids` (duplicates
        counted once; the first `max_files`), as `user_id` may read them in `workspace_id`.
        ValidationFailed for an empty or too long query or a bad `k`. Files that cannot be
        searched (beyond `max_files`, not found for the caller, in another workspace, without
        readable text, past the total character budget) are listed in `skipped` with the
        reason; they do not fail the search."""
        query = (query or "").strip()
        if not query:
            raise ValidationFailed("The search query is empty", details={"query": ["required"]})
        if len(query) > self.max_query_chars:
            raise ValidationFailed(f"The search query is longer than {self.max_query_chars} "
                                   "characters", details={"query": ["too long"]})
        if not 1 <= k <= self.max_k:
            raise ValidationFailed(f"k must be between 1 and {self.max_k}",
                                   details={"k": [f"1..{self.max_k}"]})
        ids = list(dict.fromkeys(file_ids))
        skipped: list[dict] = [{"file_id": file_id,
                                "reason": f"left out: at most {self.max_files} files are searched"}
                               for file_id in ids[self.max_files:]]
        ids = ids[:self.max_files]
        spans: list[tuple[File, int, int, int | None]] = []
        bodies: list[str] = []
        searched = 0
        budget = self.max_total_chars
        for file_id in ids:
            file, text, reason = self._text(user_id, workspace_id, file_id, budget)
            if reason is not None or file is None:
                skipped.append({"file_id": file_id, **({"filename": file.filename} if file else {}),
                                "reason": reason})
                continue
            searched += 1
            budget -= len(text)
            for start, end in passage_bounds(text, self.passage_chars, self.overlap_chars):
                page = text.count("\f", 0, start) + 1 if "\f" in text else None
                spans.append((file, start, end, page))
                bodies.append(text[start:end])
        ranked = self.ranker.rank(query, bodies, k)
        passages = [Passage(spans[i][0].id, spans[i][0].filename, spans[i][1], spans[i][2],
                            bodies[i].strip(), score, spans[i][3]) for i, score in ranked]
        return SearchOutcome(passages, searched, skipped)

    def _text(self, user_id: str, workspace_id: str, file_id: str, budget: int
              ) -> tuple[File | None, str, str | None]:
        try:
            file = self.access.readable(user_id, file_id)
        except NotFound:
            return None, "", "not found"
        if file.workspace_id != workspace_id:
            return None, "", "not found"
        if budget <= 0:
            return file, "", "left out: the search read as much text as it may"
        if not self.texts.can_extract(file.content_type):
            return file, "", "its content cannot be read as text"
        try:
            text, _truncated = self.texts.text_of(file, min(self.max_chars_per_file, budget))
        except LimitExceeded as error:
            return file, "", f"its text could not be read: {error.message}"
        return file, text, None


def passage_bounds(text: str, size: int, overlap: int) -> list[tuple[int, int]]:
    """(start, end) character offsets of passages of at most `size` characters covering `text`,
    each after the first starting `overlap` characters or less before the previous one ended.
    A passage ends at the last paragraph break, line break, sentence end or space in its second
    half when there is one; the next starts at a word boundary."""
    bounds: list[tuple[int, int]] = []
    start, length = 0, len(text)
    while start < length:
        end = min(start + size, length)
        if end < length:
            for mark in BOUNDARIES:
                cut = text.rfind(mark, start + size // 2, end)
                if cut != -1:
                    end = cut + len(mark)
                    break
        if text[start:end].strip():
            bounds.append((start, end))
        if end >= length:
            break
        following = max(end - overlap, start + 1)
        space = text.find(" ", following, end)
        start = space + 1 if space != -1 else following
    return bounds
