"""Knowledge bases: reading every format (the committed fixtures include a pdf), token
chunks with overlap, incremental re-ingest, deletes, and hybrid retrieval."""

from __future__ import annotations

import shutil
import uuid
from pathlib import Path

import pytest

from agent.kb import (
    DocumentSearchTool,
    FileKbStore,
    TTLKbStore,
    delete_documents,
    ingest,
    read_documents,
)
from agent.kb.chunking import ENCODING, chunk_documents
from agent.kb.documents import Document
from agent.tokens import get_encoding
from cache.redis_store import RedisTTLStore, create_redis_client
from tests.agent.pipeline.support import HashingEmbedder
from tests.support.redis_server import RedisServer

pytestmark = pytest.mark.anyio

FIXTURES = Path(__file__).parents[2] / "fixtures" / "kb_docs"


class CountingEmbedder(HashingEmbedder):
    def __init__(self) -> None:
        self.embedded: list[str] = []

    async def embed(self, texts):  # type: ignore[no-untyped-def]
        self.embedded.extend(texts)
        return await super().embed(texts)


def test_every_format_is_read() -> None:
    docs = {d.doc_id: d for d in read_documents([FIXTURES])}
    assert set(docs) == {
        "care.html",
        "manual.pdf",
        "returns.md",
        "sizes.csv#1",
        "sizes.csv#2",
        "sizes.csv#3",
        "stores.jsonl#1",
        "stores.jsonl#2",
        "warranty.txt",
    }
    assert "12 minutes with citric acid" in docs["manual.pdf"].text
    assert docs["manual.pdf"].title == "Nimbus Kettle Manual"
    assert docs["care.html"].title == "Caring for merino socks"
    assert "console.log" not in docs["care.html"].text and "color" not in docs["care.html"].text
    assert docs["returns.md"].title == "Returns for alpaca scarves"
    assert "chest_cm: 100" in docs["sizes.csv#2"].text
    assert docs["stores.jsonl#2"].title == "Bergen outlet"


def test_chunks_overlap_by_tokens() -> None:
    encoding = get_encoding(ENCODING)
    text = " ".join(f"word{i}" for i in range(400))
    chunks = chunk_documents([Document("d", "D", text)], size=100, overlap=20)
    assert [c.chunk_id for c in chunks][:2] == ["d@0", "d@1"]
    first, second = chunks[0].text, chunks[1].text
    assert len(encoding.encode_ordinary(first)) <= 100
    # The second window starts 80 tokens in: its first words end the first window.
    assert " ".join(second.split()[1:4]) in first[-80:]
    assert second.split()[12] not in first.split()


async def test_reingest_embeds_only_what_changed_and_reports_it(tmp_path: Path) -> None:
    docs = tmp_path / "docs"
    shutil.copytree(FIXTURES, docs)
    store, embedder = FileKbStore(tmp_path / "store"), CountingEmbedder()
    snapshot, report = await ingest(store, [docs], embedder=embedder, size=64, overlap=8)
    assert report.embedded == report.chunks == len(snapshot.chunks) >= 9
    assert len(report.added) == 9 and not report.changed

    (docs / "returns.md").write_text("# Returns for alpaca scarves\n\nNow 60 days.\n")
    (docs / "warranty.txt").unlink()
    embedder.embedded.clear()
    _, report = await ingest(store, [docs], embedder=embedder, size=64, overlap=8)
    assert (report.changed, report.removed, report.added) == (["returns.md"], ["warranty.txt"], [])
    assert report.embedded == 1 and len(embedder.embedded) == 1
    assert report.touched == ["returns.md", "warranty.txt"]

    report = await delete_documents(store, ["sizes.csv"])
    assert report.removed == ["sizes.csv#1", "sizes.csv#2", "sizes.csv#3"]
    loaded = await store.load()
    assert loaded is not None and not any(c.doc_id.startswith("sizes") for c in loaded.chunks)


async def test_hybrid_search_cites_the_chunk(tmp_path: Path) -> None:
    store = FileKbStore(tmp_path / "store")
    snapshot, _ = await ingest(store, [FIXTURES], embedder=HashingEmbedder(), size=64, overlap=8)
    tool = DocumentSearchTool("docs", HashingEmbedder(), top_k=2)
    tool.reload(snapshot)
    output = await tool.run({"query": "How long does descaling the Nimbus kettle take?"})
    assert output.sources[0].doc_id == "docs:manual.pdf@0"
    assert "12 minutes" in output.content
    output = await tool.run({"query": "quantum chromodynamics lattice"})
    assert output.sources == []


async def test_the_redis_store_keeps_the_snapshot_for_every_replica(
    redis_server: RedisServer, tmp_path: Path
) -> None:
    client = create_redis_client(redis_server.url, pool_size=2, timeout_s=2.0)
    redis = RedisTTLStore(client, namespace=f"test:{uuid.uuid4().hex}:", op_timeout_s=2.0)
    try:
        writer, reader = TTLKbStore(redis, "docs"), TTLKbStore(redis, "docs")
        assert await reader.load() is None
        docs = tmp_path / "docs"
        shutil.copytree(FIXTURES, docs)
        snapshot, _ = await ingest(writer, [docs], embedder=HashingEmbedder(), size=64, overlap=8)
        loaded = await reader.load()
        assert loaded == snapshot and loaded.matrix().shape == (len(snapshot.chunks), 128)
        (docs / "care.html").unlink()
        _, report = await ingest(writer, [docs], embedder=HashingEmbedder(), size=64, overlap=8)
        assert report.removed == ["care.html"] and report.embedded == 0
    finally:
        await redis.aclose()
