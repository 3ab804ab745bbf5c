"""`KnowledgeBaseService`: one ingested knowledge base at run time — its store, its search
tool, and the operations that change it (ingest, reload, delete), each reporting which
documents changed so the cached answers built on them can be invalidated."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from agent.base import Embedder
from agent.kb.ingest import IngestReport, compare, delete_documents, ingest
from agent.kb.search_tool import DocumentSearchTool
from agent.kb.store import KbStore


class KnowledgeBaseService:
    """See the module docstring; ``paths`` are ingested at start when the store is empty."""

    def __init__(
        self,
        name: str,
        store: KbStore,
        tool: DocumentSearchTool,
        *,
        embedder: Embedder,
        paths: Sequence[str] = (),
        chunk_tokens: int = 300,
        overlap_tokens: int = 50,
    ) -> None:
        self.name = name
        self.store = store
        self.tool = tool
        self._embedder = embedder
        self._paths = [Path(p) for p in paths]
        self._size = chunk_tokens
        self._overlap = overlap_tokens

    async def start(self) -> None:
        """Load the stored snapshot, ingesting the configured paths if there is none."""
        snapshot = await self.store.load()
        if snapshot is None and self._paths:
            snapshot, _ = await ingest(
                self.store,
                self._paths,
                embedder=self._embedder,
                size=self._size,
                overlap=self._overlap,
            )
        self.tool.reload(snapshot)

    async def ingest(self, paths: Sequence[Path] = ()) -> IngestReport:
        """Make the knowledge base hold ``paths`` (default: the configured ones)."""
        snapshot, report = await ingest(
            self.store,
            list(paths) or self._paths,
            embedder=self._embedder,
            size=self._size,
            overlap=self._overlap,
        )
        self.tool.reload(snapshot)
        return report

    async def reload(self) -> IngestReport:
        """Pick up what another process (``frugal kb``) stored; report what changed."""
        before = list(self.tool.index.chunks)
        snapshot = await self.store.load()
        self.tool.reload(snapshot)
        return compare(before, snapshot.chunks if snapshot else [], embedded=0)

    async def delete(self, doc_ids: Sequence[str]) -> IngestReport:
        """Remove documents and search without them from now on."""
        report = await delete_documents(self.store, doc_ids)
        self.tool.reload(await self.store.load())
        return report

    def tags(self, report: IngestReport) -> list[str]:
        """The cache tags of the documents ``report`` touched (``<kb>:<doc_id>``)."""
        return [f"{self.name}:{doc}" for doc in report.touched]
