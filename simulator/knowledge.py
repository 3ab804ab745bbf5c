"""The support answers the simulator gives: BM25 over the bundled FAQ, read as data.

It scores exactly like the gateway's lexical matcher (same stopwords, plural fold, k1 and b),
so a question gets the same article from the simulator as from the in-process fake client.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from functools import cache
from pathlib import Path

import msgspec

FAQ_PATH = Path(__file__).resolve().parent.parent / "examples" / "support" / "faq.json"

_TOKEN_RE = re.compile(r"[a-z0-9]+(?:-[a-z0-9]+)*")
_STOPWORDS = frozenset(
    [
        "a",
        "about",
        "after",
        "again",
        "all",
        "am",
        "an",
        "and",
        "any",
        "are",
        "as",
        "at",
        "be",
        "been",
        "before",
        "being",
        "but",
        "by",
        "can",
        "could",
        "did",
        "do",
        "does",
        "doing",
        "done",
        "for",
        "from",
        "get",
        "got",
        "had",
        "has",
        "have",
        "having",
        "he",
        "her",
        "here",
        "hers",
        "him",
        "his",
        "how",
        "i",
        "if",
        "in",
        "into",
        "is",
        "it",
        "its",
        "just",
        "me",
        "my",
        "myself",
        "no",
        "nor",
        "not",
        "of",
        "off",
        "on",
        "once",
        "only",
        "or",
        "other",
        "our",
        "ours",
        "out",
        "over",
        "own",
        "same",
        "she",
        "should",
        "so",
        "some",
        "such",
        "than",
        "that",
        "the",
        "their",
        "theirs",
        "them",
        "then",
        "there",
        "these",
        "they",
        "this",
        "those",
        "through",
        "to",
        "too",
        "under",
        "until",
        "up",
        "very",
        "was",
        "we",
        "were",
        "what",
        "when",
        "where",
        "which",
        "while",
        "who",
        "whom",
        "why",
        "will",
        "with",
        "would",
        "you",
        "your",
        "yours",
        "yourself",
        "please",
        "hi",
        "hello",
        "thanks",
        "thank",
        "help",
        "want",
        "need",
        "know",
        "tell",
    ]
)
_K1 = 1.2
_B = 0.5
_MIN_SCORE = 1.5


class Article(msgspec.Struct, frozen=True):
    """One FAQ entry (the fields the simulator uses)."""

    id: str
    title: str
    question: str
    answer: str
    tags: tuple[str, ...] = ()


def _terms(text: str) -> list[str]:
    words = _TOKEN_RE.findall(text.lower())
    return [
        w[:-1] if len(w) > 3 and w.endswith("s") and not w.endswith("ss") else w
        for w in words
        if w not in _STOPWORDS
    ]


class Faq:
    """Articles with BM25 best-match search; file order breaks ties."""

    def __init__(self, articles: list[Article]) -> None:
        self._articles = articles
        self._docs: list[Counter[str]] = []
        for article in articles:
            doc = Counter(_terms(" ".join([article.title, article.question, *article.tags])))
            for term in doc:
                doc[term] *= 2
            doc.update(_terms(article.answer))
            self._docs.append(doc)
        self._lengths = [sum(doc.values()) for doc in self._docs]
        self._avg = sum(self._lengths) / len(self._lengths) if self._docs else 1.0
        freq: Counter[str] = Counter()
        for doc in self._docs:
            freq.update(doc.keys())
        n = len(self._docs)
        self._idf = {t: math.log(1 + (n - df + 0.5) / (df + 0.5)) for t, df in freq.items()}

    def best_match(self, question: str) -> Article | None:
        """The best article for ``question``, or None when nothing scores above the floor."""
        terms = set(_terms(question))
        best: tuple[float, Article] | None = None
        for index, article in enumerate(self._articles):
            score = self._score(terms, index)
            if best is None or score > best[0]:
                best = (score, article)
        return best[1] if best is not None and best[0] >= _MIN_SCORE else None

    def _score(self, terms: set[str], index: int) -> float:
        doc = self._docs[index]
        norm = _K1 * (1 - _B + _B * self._lengths[index] / self._avg)
        score = 0.0
        for term in terms:
            tf = doc.get(term, 0)
            if tf:
                score += self._idf[term] * tf * (_K1 + 1) / (tf + norm)
        return score


@cache
def bundled_faq() -> Faq:
    """The FAQ shipped with the repository (loaded once per process)."""
    return Faq(msgspec.json.decode(FAQ_PATH.read_bytes(), type=list[Article]))
