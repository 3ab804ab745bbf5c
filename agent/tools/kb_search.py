"""``kb_search``: retrieval over the bundled FAQ by embedding similarity.

`KnowledgeIndex` embeds every entry once (title, question and answer in one text) into a
float32 matrix; a query costs one embedding plus a matrix-vector product, small enough for
the event loop at FAQ scale (tens of entries).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from agent.base import Embedder
from agent.knowledge import FaqEntry, KnowledgeBase
from agent.tools.base import RiskLevel, Source, ToolOutput

DEFAULT_TOP_K = 3
MAX_TOP_K = 10


class KnowledgeIndex:
    """FAQ entries and their unit vectors; ranks entries by cosine similarity to a query."""

    def __init__(
        self,
        entries: Sequence[FaqEntry],
        vectors: npt.NDArray[np.float32],
        embedder: Embedder,
    ) -> None:
        """Prefer `build`; ``vectors`` row *i* belongs to ``entries[i]``."""
        if vectors.shape[0] != len(entries):
            raise ValueError(f"{len(entries)} entries but {vectors.shape[0]} vectors")
        self._entries = tuple(entries)
        self._vectors = _unit_rows(vectors)
        self._embedder = embedder

    @classmethod
    async def build(cls, kb: KnowledgeBase, embedder: Embedder) -> KnowledgeIndex:
        """Embed every entry of ``kb`` in one call; raises `EmbeddingError` if that fails."""
        entries = list(kb.entries)
        vectors = await embedder.embed([entry_text(entry) for entry in entries])
        return cls(entries, vectors, embedder)

    @property
    def entries(self) -> Sequence[FaqEntry]:
        """The indexed entries, in row order."""
        return self._entries

    @property
    def embedder_name(self) -> str:
        """Name of the model the vectors came from."""
        return self._embedder.name

    async def search(self, query: str, top_k: int = DEFAULT_TOP_K) -> list[tuple[FaqEntry, float]]:
        """Up to ``top_k`` entries with their cosine scores, best first (ties in file order).

        Raises `EmbeddingError` if the query cannot be embedded.
        """
        if top_k <= 0 or not self._entries:
            return []
        query_vector = _unit_rows(await self._embedder.embed([query]))[0]
        scores = self._vectors @ query_vector
        # Stable sort on the negated scores keeps file order between equal scores.
        order = np.argsort(-scores, kind="stable")[:top_k]
        return [(self._entries[i], float(scores[i])) for i in order]


class KnowledgeBaseSearchTool:
    """Finds the FAQ articles closest to a question. Low risk, not realtime."""

    name = "kb_search"
    description = "Search the support knowledge base (FAQ) for articles answering a question."
    risk: RiskLevel = "low"
    realtime = False

    def __init__(
        self, index: KnowledgeIndex, *, timeout_s: float = 2.0, min_score: float = 0.0
    ) -> None:
        """Entries scoring below ``min_score`` are dropped: off-topic articles cost prompt tokens.

        With MiniLM, on-topic matches score ~0.4-0.7 and unrelated questions ~0.1.
        """
        self._index = index
        self._min_score = min_score
        self.timeout_s = timeout_s
        self.parameters: dict[str, Any] = {
            "type": "object",
            "properties": {
                "query": {"type": "string", "description": "the customer's question"},
                "top_k": {
                    "type": "integer",
                    "minimum": 1,
                    "maximum": MAX_TOP_K,
                    "description": f"how many articles (default {DEFAULT_TOP_K})",
                },
            },
            "required": ["query"],
            "additionalProperties": False,
        }

    async def run(self, args: Mapping[str, Any]) -> ToolOutput:
        """The best articles as ``## title`` sections; sources carry doc ids and cosine scores.

        ``top_k`` is clamped to 1..10 in case the registry's validation was bypassed.
        """
        top_k = min(max(int(args.get("top_k", DEFAULT_TOP_K)), 1), MAX_TOP_K)
        found = await self._index.search(str(args["query"]), top_k)
        found = [(entry, score) for entry, score in found if score >= self._min_score]
        if not found:
            return ToolOutput(content="No knowledge-base articles found.")
        content = "\n\n".join(f"## {entry.title}\n{entry.answer}" for entry, _ in found)
        sources = [Source(doc_id=e.id, title=e.title, score=round(s, 4)) for e, s in found]
        return ToolOutput(content=content, sources=sources)


def entry_text(entry: FaqEntry) -> str:
    """The text embedded for ``entry``: title, question and answer, one per line."""
    return f"{entry.title}\n{entry.question}\n{entry.answer}"


def _unit_rows(matrix: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
    # The Embedder contract promises unit vectors; normalising again is cheap insurance for
    # cosine scores, and all-zero rows stay zero instead of becoming NaN.
    vectors = np.asarray(matrix, dtype=np.float32)
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    unit: npt.NDArray[np.float32] = np.divide(
        vectors, norms, out=np.zeros_like(vectors), where=norms > 0
    )
    return unit
