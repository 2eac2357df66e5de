"""Passages ranked by BM25 (Okapi BM25, as Lucene scores it) with the `bm25s` library.

Tokens are lower-cased runs of two or more word characters (bm25s' default pattern, Unicode
aware); no stop-word list and no stemming, so every language is treated alike (BM25's inverse
document frequency already makes words found in most passages weigh little).
"""
from __future__ import annotations

from use_cases.agents.file_search import PassageRanker


class Bm25Ranker(PassageRanker):
    def rank(self, query: str, passages: list[str], k: int) -> list[tuple[int, float]]:
        if not passages or k <= 0:
            return []
        corpus = _tokens(passages)
        wanted = _tokens([query])
        if not any(corpus) or not wanted[0]:
            return []
        import bm25s  # on first use: it brings numpy, too slow to import at start-up

        retriever = bm25s.BM25()
        retriever.index(corpus, show_progress=False)
        found = retriever.retrieve(wanted, k=min(k, len(passages)), show_progress=False)
        return [(int(index), float(score))
                for index, score in zip(found.documents[0], found.scores[0], strict=True)
                if score > 0]


def _tokens(texts: list[str]) -> list[list[str]]:
    import bm25s

    return bm25s.tokenize(texts, stopwords=None, show_progress=False, return_ids=False)
