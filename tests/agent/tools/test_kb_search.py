"""Embedding retrieval over the bundled FAQ, with a deterministic fake and with real MiniLM."""

from __future__ import annotations

import zlib
from collections.abc import Sequence

import numpy as np
import numpy.typing as npt
import pytest

from agent.base import Embedder
from agent.knowledge import KnowledgeBase, tokenize
from agent.tools import (
    KnowledgeBaseSearchTool,
    KnowledgeIndex,
    ToolCall,
    ToolRegistry,
    run_tools_concurrently,
)


class HashingEmbedder:
    """Bag of content words hashed into 512 buckets: deterministic, lexical, instant."""

    name = "hashing-bow"
    dim = 512

    def __init__(self) -> None:
        self.calls: list[int] = []

    async def embed(self, texts: Sequence[str]) -> npt.NDArray[np.float32]:
        self.calls.append(len(texts))
        matrix = np.zeros((len(texts), self.dim), dtype=np.float32)
        for row, text in enumerate(texts):
            for word in tokenize(text):
                matrix[row, zlib.crc32(word.encode()) % self.dim] += 1.0
        norms = np.linalg.norm(matrix, axis=1, keepdims=True)
        return (matrix / np.where(norms > 0, norms, 1.0)).astype(np.float32)


@pytest.fixture
async def index() -> KnowledgeIndex:
    embedder: Embedder = HashingEmbedder()
    return await KnowledgeIndex.build(KnowledgeBase.load_default(), embedder)


class TestKnowledgeIndex:
    @pytest.mark.anyio
    async def test_build_embeds_every_entry_in_one_call(self) -> None:
        embedder = HashingEmbedder()
        kb = KnowledgeBase.load_default()
        index = await KnowledgeIndex.build(kb, embedder)
        assert embedder.calls == [len(kb.entries)]
        assert index.entries == tuple(kb.entries)
        assert index.embedder_name == "hashing-bow"

    @pytest.mark.anyio
    @pytest.mark.parametrize(
        ("question", "doc_id"),
        [
            ("How do I reset my password?", "kb-account-001"),
            ("When will my refund arrive?", "kb-returns-002"),
            ("verify webhook signature", "kb-webhooks-002"),
            ("How do I rotate an API key", "kb-keys-002"),
        ],
    )
    async def test_finds_the_right_faq_entry(
        self, index: KnowledgeIndex, question: str, doc_id: str
    ) -> None:
        found = await index.search(question, top_k=3)
        assert found[0][0].id == doc_id
        scores = [score for _, score in found]
        assert scores == sorted(scores, reverse=True) and 0 < scores[0] <= 1.0001

    @pytest.mark.anyio
    async def test_zero_top_k_returns_nothing(self, index: KnowledgeIndex) -> None:
        assert await index.search("password", top_k=0) == []

    def test_rejects_mismatched_vectors(self) -> None:
        entries = KnowledgeBase.load_default().entries
        with pytest.raises(ValueError, match="vectors"):
            KnowledgeIndex(entries, np.zeros((2, 4), dtype=np.float32), HashingEmbedder())


class TestKnowledgeBaseSearchTool:
    @pytest.mark.anyio
    async def test_output_has_titled_answers_and_scored_sources(
        self, index: KnowledgeIndex
    ) -> None:
        tool = KnowledgeBaseSearchTool(index)
        assert (tool.risk, tool.realtime, tool.timeout_s) == ("low", False, 2.0)
        output = await tool.run({"query": "I want to reset my password"})
        assert len(output.sources) == 3
        first = output.sources[0]
        assert (first.doc_id, first.title) == ("kb-account-001", "Resetting a password")
        assert first.score > output.sources[1].score >= output.sources[2].score
        assert output.content.startswith("## Resetting a password\nClick Forgot password")
        assert output.content.count("## ") == 3

    @pytest.mark.anyio
    async def test_top_k_is_bounded_by_the_schema_and_the_tool(self, index: KnowledgeIndex) -> None:
        tool = KnowledgeBaseSearchTool(index)
        registry = ToolRegistry([tool])
        results = await run_tools_concurrently(
            registry,
            [
                ToolCall("kb_search", {"query": "shipping", "top_k": 10}, "ten"),
                ToolCall("kb_search", {"query": "shipping", "top_k": 11}, "eleven"),
                ToolCall("kb_search", {"query": "shipping", "top_k": 1}, "one"),
            ],
        )
        ten, eleven, one = results
        assert ten.output is not None and len(ten.output.sources) == 10
        assert eleven.error == "invalid_arguments: 'top_k' must be <= 10"
        assert one.output is not None and len(one.output.sources) == 1
        # Called directly (no registry), an oversized top_k is clamped rather than trusted.
        direct = await tool.run({"query": "shipping", "top_k": 50})
        assert len(direct.sources) == 10

    @pytest.mark.anyio
    async def test_min_score_drops_off_topic_articles(self, index: KnowledgeIndex) -> None:
        tool = KnowledgeBaseSearchTool(index, min_score=0.3)
        on_topic = await tool.run({"query": "reset password"})
        assert [s.doc_id for s in on_topic.sources] == ["kb-account-001"]
        off_topic = await tool.run({"query": "weather forecast Oslo"})
        assert off_topic.sources == []
        assert off_topic.content == "No knowledge-base articles found."


@pytest.mark.anyio
async def test_real_minilm_finds_password_reset_for_forgotten_password() -> None:
    from agent.embedders import MiniLMEmbedder

    async with MiniLMEmbedder.load() as embedder:
        index = await KnowledgeIndex.build(KnowledgeBase.load_default(), embedder)
        output = await KnowledgeBaseSearchTool(index).run({"query": "I forgot my password"})
    assert "kb-account-001" in [source.doc_id for source in output.sources]
    assert all(0 < source.score <= 1.0001 for source in output.sources)
