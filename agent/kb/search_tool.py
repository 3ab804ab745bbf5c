"""`DocumentSearchTool`: ``kb_search`` over an ingested knowledge base (hybrid retrieval,
then optionally a rerank step: the best ``rerank_candidates`` fused chunks are ordered by a
`Reranker` and the top ones kept; its cost rides on the output as a `ModelCall`, and a rerank
that fails leaves the fused order, logged).

The tool's sources cite chunks as ``<kb>:<doc_id>@<n>``; the pipeline tags cached answers
with the document part (``<kb>:<doc_id>``), so deleting or editing a document invalidates
the answers built on it and only those. `reload` swaps in a new snapshot atomically.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

import numpy as np
import numpy.typing as npt

from agent.base import Embedder
from agent.errors import ProviderError
from agent.kb.chunking import Chunk
from agent.kb.index import HybridIndex
from agent.kb.rerank import Reranker
from agent.kb.store import KbSnapshot
from agent.tools.base import ModelCall, RiskLevel, Source, ToolOutput

log = logging.getLogger("frugal.kb")

MAX_TOP_K = 10


class DocumentSearchTool:
    """Implements `Tool` for one knowledge base; low risk, not realtime."""

    name = "kb_search"
    risk: RiskLevel = "low"
    realtime = False

    def __init__(
        self,
        kb: str,
        embedder: Embedder,
        *,
        description: str = "",
        top_k: int = 4,
        min_score: float = 0.25,
        timeout_s: float = 3.0,
        reranker: Reranker | None = None,
        rerank_candidates: int = 20,
    ) -> None:
        self.kb = kb
        self._reranker = reranker
        self._candidates = rerank_candidates
        self._embedder = embedder
        self._top_k = top_k
        self._min_score = min_score
        self.timeout_s = timeout_s
        self.description = description or f"Search the {kb} knowledge base for passages."
        self.parameters: dict[str, Any] = {
            "type": "object",
            "properties": {
                "query": {"type": "string", "description": "what to look for"},
                "top_k": {"type": "integer", "minimum": 1, "maximum": MAX_TOP_K},
            },
            "required": ["query"],
            "additionalProperties": False,
        }
        self.index = HybridIndex([], _empty(), embedder)

    def reload(self, snapshot: KbSnapshot | None) -> None:
        """Search ``snapshot`` from now on (None: an empty knowledge base)."""
        if snapshot is None or not snapshot.chunks:
            self.index = HybridIndex([], _empty(), self._embedder)
        else:
            self.index = HybridIndex(snapshot.chunks, snapshot.matrix(), self._embedder)

    async def run(self, args: Mapping[str, Any]) -> ToolOutput:
        """The best passages as ``## title [source]`` sections, each cited in ``sources``."""
        top_k = min(max(int(args.get("top_k", self._top_k)), 1), MAX_TOP_K)
        query = str(args["query"])
        wanted = max(top_k, self._candidates) if self._reranker is not None else top_k
        hits = await self.index.search(query, wanted, min_score=self._min_score)
        if not hits:
            return ToolOutput(content="No passages found in the knowledge base.")
        scores = [hit.cosine for hit in hits]
        calls: list[ModelCall] = []
        if self._reranker is not None:
            try:
                reranked = await self._reranker.rerank(query, [_passage(h.chunk) for h in hits])
            except ProviderError as exc:
                log.warning("kb %s: rerank failed, keeping the fused order: %s", self.kb, exc)
            else:
                hits = [hits[index] for index in reranked.order]
                scores, calls = reranked.scores, [reranked.call]
        sections, sources = [], []
        for hit, score in zip(hits[:top_k], scores, strict=False):
            cite = f"{self.kb}:{hit.chunk.chunk_id}"
            sections.append(f"## {hit.chunk.title} [{cite}]\n{hit.chunk.text}")
            sources.append(Source(doc_id=cite, title=hit.chunk.title, score=round(score, 4)))
        return ToolOutput(content="\n\n".join(sections), sources=sources, calls=calls)


def _passage(chunk: Chunk) -> str:
    return f"{chunk.title}\n{chunk.text}"


def _empty() -> npt.NDArray[np.float32]:
    return np.zeros((0, 0), dtype=np.float32)
