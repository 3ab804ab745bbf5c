"""The bundled customer-support knowledge base and a cheap lexical matcher over it.

Matching is BM25 over title, question and tags (counted twice) plus the answer, with
stopwords removed and a crude plural fold. Semantic retrieval lives elsewhere; this is the
dependency-free baseline the simulators and the KB tool share.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from functools import cache
from pathlib import Path

import msgspec

FAQ_PATH = Path(__file__).resolve().parent.parent / "examples" / "support" / "faq.json"

_TOKEN_RE = re.compile(r"[a-z0-9]+(?:-[a-z0-9]+)*")
_STOPWORD_TEXT = """
    a about after again all am an and any are as at be been before being but by can could
    did do does doing done for from get got had has have having he her here hers him his how i
    if in into is it its just me my myself no nor not of off on once only or other our ours out
    over own same she should so some such than that the their theirs them then there these they
    this those through to too under until up very was we were what when where which while who
    whom why will with would you your yours yourself please hi hello thanks thank help want need
    know tell
"""
_STOPWORDS = frozenset(_STOPWORD_TEXT.split())
# BM25 parameters: the usual k1, and a lower b because entries are all short.
_K1 = 1.2
_B = 0.5
# Below this score a match is mostly noise (one common word shared), so we report no match.
_MIN_SCORE = 1.5


class FaqEntry(msgspec.Struct, frozen=True):
    """One knowledge-base article."""

    id: str
    title: str
    question: str
    answer: str
    tags: tuple[str, ...] = ()
    category: str = ""
    realtime: bool = False


def tokenize(text: str) -> list[str]:
    """Lower-cased content words of ``text``, stopwords dropped and plurals folded."""
    words = _TOKEN_RE.findall(text.lower())
    return [_fold(w) for w in words if w not in _STOPWORDS]


def _fold(word: str) -> str:
    # Fold simple plurals so "refunds" meets "refund"; not a stemmer, but cheap and predictable.
    if len(word) > 3 and word.endswith("s") and not word.endswith("ss"):
        return word[:-1]
    return word


class KnowledgeBase:
    """An immutable set of `FaqEntry` with id lookup and BM25 best-match search."""

    def __init__(self, entries: Iterable[FaqEntry]) -> None:
        self._entries = tuple(entries)
        self._by_id = {entry.id: entry for entry in self._entries}
        if len(self._by_id) != len(self._entries):
            raise ValueError("knowledge base ids must be unique")
        self._docs = [self._doc_terms(entry) for entry in self._entries]
        self._lengths = [sum(doc.values()) for doc in self._docs]
        self._avg_len = sum(self._lengths) / len(self._lengths) if self._docs else 1.0
        doc_freq: Counter[str] = Counter()
        for doc in self._docs:
            doc_freq.update(doc.keys())
        n = len(self._docs)
        self._idf = {
            term: math.log(1 + (n - df + 0.5) / (df + 0.5)) for term, df in doc_freq.items()
        }

    @classmethod
    def from_json(cls, data: bytes) -> KnowledgeBase:
        """Build from a JSON array of entries; raises `msgspec.ValidationError` if malformed."""
        return cls(msgspec.json.decode(data, type=list[FaqEntry]))

    @classmethod
    def load_default(cls) -> KnowledgeBase:
        """The bundled demo FAQ, ``examples/support/faq.json`` (loaded once per process)."""
        return _load_default()

    @property
    def entries(self) -> Sequence[FaqEntry]:
        """All entries, in file order."""
        return self._entries

    def get(self, doc_id: str) -> FaqEntry | None:
        """The entry with ``doc_id``, or None."""
        return self._by_id.get(doc_id)

    def search(self, question: str, limit: int = 3) -> list[tuple[FaqEntry, float]]:
        """Up to ``limit`` entries scoring above the noise floor, best first."""
        terms = set(tokenize(question))
        scored = [(entry, self._score(terms, i)) for i, entry in enumerate(self._entries)]
        # Stable sort keeps file order between equal scores, so results are deterministic.
        scored.sort(key=lambda pair: -pair[1])
        return [(entry, score) for entry, score in scored[:limit] if score >= _MIN_SCORE]

    def best_match(self, question: str) -> FaqEntry | None:
        """The best entry for ``question``, or None when nothing matches well enough."""
        found = self.search(question, limit=1)
        return found[0][0] if found else None

    def _score(self, terms: set[str], index: int) -> float:
        doc = self._docs[index]
        norm = _K1 * (1 - _B + _B * self._lengths[index] / self._avg_len)
        score = 0.0
        for term in terms:
            tf = doc.get(term, 0)
            if tf:
                score += self._idf[term] * tf * (_K1 + 1) / (tf + norm)
        return score

    @staticmethod
    def _doc_terms(entry: FaqEntry) -> Counter[str]:
        key_text = " ".join([entry.title, entry.question, *entry.tags])
        terms = Counter(tokenize(key_text))
        for term in terms:
            terms[term] *= 2
        terms.update(tokenize(entry.answer))
        return terms


@cache
def _load_default() -> KnowledgeBase:
    return KnowledgeBase.from_json(FAQ_PATH.read_bytes())
