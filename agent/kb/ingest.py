"""Ingesting documents into a knowledge base, incrementally.

The knowledge base becomes exactly the documents under the given paths. A chunk whose content
hash is already stored (from the same embedder) keeps its vector, so an edit re-embeds only
the chunks it touched; the report names the documents added, changed and removed, which are
the cached answers to invalidate.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import anyio
import numpy as np

from agent.base import Embedder
from agent.kb.chunking import Chunk, chunk_documents
from agent.kb.documents import read_documents
from agent.kb.store import KbSnapshot, KbStore


@dataclass(frozen=True, slots=True)
class IngestReport:
    """What an ingest (or delete) did, per document id."""

    added: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    unchanged: int = 0
    chunks: int = 0
    embedded: int = 0

    @property
    def touched(self) -> list[str]:
        """Documents whose cached answers are stale: changed or removed."""
        return [*self.changed, *self.removed]


async def ingest(
    store: KbStore, paths: Sequence[Path], *, embedder: Embedder, size: int, overlap: int
) -> tuple[KbSnapshot, IngestReport]:
    """Make the knowledge base in ``store`` hold the documents under ``paths``.

    Raises `DocumentError` for an unreadable file and `EmbeddingError` when embedding fails;
    the stored snapshot is only replaced once everything succeeded.
    """
    documents = await anyio.to_thread.run_sync(read_documents, list(paths))
    chunks = await anyio.to_thread.run_sync(
        lambda: chunk_documents(documents, size=size, overlap=overlap)
    )
    old = await store.load()
    known: dict[str, np.ndarray] = {}
    if old is not None and old.embedder == embedder.name:
        known = dict(zip((c.digest for c in old.chunks), old.matrix(), strict=True))
    fresh = [c for c in chunks if c.digest not in known]
    if fresh:
        vectors = await embedder.embed([f"{c.title}\n{c.text}" for c in fresh])
        known.update(zip((c.digest for c in fresh), np.asarray(vectors), strict=True))
    matrix = np.asarray([known[c.digest] for c in chunks], dtype=np.float32)
    dim = int(matrix.shape[1]) if len(chunks) else embedder.dim
    snapshot = KbSnapshot(embedder.name, dim, chunks, matrix.tobytes())
    report = compare(old.chunks if old else [], chunks, embedded=len(fresh))
    await store.save(snapshot)
    return snapshot, report


async def delete_documents(store: KbStore, doc_ids: Sequence[str]) -> IngestReport:
    """Remove ``doc_ids`` (and, for a file, its jsonl/csv records) from the knowledge base."""
    old = await store.load()
    if old is None:
        return IngestReport()
    gone = set(doc_ids)

    def doomed(chunk: Chunk) -> bool:
        return chunk.doc_id in gone or chunk.doc_id.split("#", 1)[0] in gone

    keep = [i for i, c in enumerate(old.chunks) if not doomed(c)]
    matrix = old.matrix()[keep] if old.chunks else old.matrix()
    chunks = [old.chunks[i] for i in keep]
    await store.save(KbSnapshot(old.embedder, old.dim, chunks, matrix.tobytes()))
    return compare(old.chunks, chunks, embedded=0)


def compare(old: Sequence[Chunk], new: Sequence[Chunk], *, embedded: int) -> IngestReport:
    """The per-document difference between two chunk lists."""
    before = _digests(old)
    after = _digests(new)
    return IngestReport(
        added=[d for d in after if d not in before],
        changed=[d for d in after if d in before and before[d] != after[d]],
        removed=[d for d in before if d not in after],
        unchanged=sum(1 for d in after if before.get(d) == after[d]),
        chunks=len(new),
        embedded=embedded,
    )


def _digests(chunks: Sequence[Chunk]) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for chunk in chunks:
        out.setdefault(chunk.doc_id, []).append(chunk.digest)
    return out
