"""`HybridIndex`: BM25 and vector search over a knowledge base's chunks, fused by rank.

Each retriever ranks every chunk; reciprocal-rank fusion (``1 / (k + rank)``, k = 60) adds the
two, so a chunk found by both ranks above one found by either alone, and neither score scale
has to be tuned against the other. A chunk is a candidate only when the words match (BM25
above zero) or its cosine similarity reaches ``min_score``.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from agent.base import Embedder
from agent.kb.chunking import Chunk
from agent.knowledge import tokenize

RRF_K = 60
_K1, _B = 1.2, 0.75


@dataclass(frozen=True, slots=True)
class Hit:
    """One retrieved chunk: its fused score, cosine similarity and BM25 score."""

    chunk: Chunk
    fused: float
    cosine: float
    bm25: float


class Bm25:
    """Okapi BM25 over the chunks' title and text."""

    def __init__(self, texts: Sequence[str]) -> None:
        self._docs = [Counter(tokenize(text)) for text in texts]
        self._lengths = [sum(doc.values()) for doc in self._docs]
        self._avg = (sum(self._lengths) / len(self._lengths)) if self._docs else 1.0
        df: Counter[str] = Counter()
        for doc in self._docs:
            df.update(doc.keys())
        n = len(self._docs)
        self._idf = {t: math.log(1 + (n - f + 0.5) / (f + 0.5)) for t, f in df.items()}

    def scores(self, query: str) -> list[float]:
        """One score per text, in order."""
        terms = set(tokenize(query))
        out = []
        for doc, length in zip(self._docs, self._lengths, strict=True):
            norm = _K1 * (1 - _B + _B * length / (self._avg or 1.0))
            out.append(
                sum(
                    self._idf[t] * doc[t] * (_K1 + 1) / (doc[t] + norm) for t in terms if doc.get(t)
                )
            )
        return out


class HybridIndex:
    """Chunks with their unit vectors (row *i* belongs to ``chunks[i]``)."""

    def __init__(
        self, chunks: Sequence[Chunk], vectors: npt.NDArray[np.float32], embedder: Embedder
    ) -> None:
        if vectors.shape[0] != len(chunks):
            raise ValueError(f"{len(chunks)} chunks but {vectors.shape[0]} vectors")
        self.chunks = tuple(chunks)
        norms = np.linalg.norm(vectors, axis=1, keepdims=True) if len(chunks) else None
        self._vectors = (
            np.divide(vectors, norms, out=np.zeros_like(vectors), where=norms > 0)
            if norms is not None
            else vectors
        )
        self._embedder = embedder
        self._bm25 = Bm25([f"{c.title}\n{c.text}" for c in chunks])

    async def search(self, query: str, top_k: int, *, min_score: float) -> list[Hit]:
        """Up to ``top_k`` chunks, best first; raises `EmbeddingError` if the query cannot
        be embedded."""
        if not self.chunks:
            return []
        query_vector = (await self._embedder.embed([query]))[0].astype(np.float32)
        norm = float(np.linalg.norm(query_vector))
        cosines = self._vectors @ (query_vector / norm if norm else query_vector)
        lexical = self._bm25.scores(query)
        fused = np.zeros(len(self.chunks))
        for scores in (np.asarray(cosines), np.asarray(lexical)):
            for rank, index in enumerate(np.argsort(-scores, kind="stable")):
                fused[index] += 1.0 / (RRF_K + rank + 1)
        hits = [
            Hit(chunk, float(fused[i]), float(cosines[i]), lexical[i])
            for i, chunk in enumerate(self.chunks)
            if lexical[i] > 0 or cosines[i] >= min_score
        ]
        hits.sort(key=lambda hit: -hit.fused)
        return hits[:top_k]
