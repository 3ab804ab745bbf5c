"""The optional rerank step: hybrid retrieval's candidates reordered by a provider's
``/rerank`` (the simulator's, over real HTTP), its cost on the tool's output; a failed rerank
keeps the fused order."""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
import pytest

from agent.kb import DocumentSearchTool
from agent.kb.chunking import Chunk
from agent.kb.index import HybridIndex
from agent.kb.rerank import ProviderReranker
from agent.types import Usage
from metrics.pricing import ModelPrice, cost_of
from simulator import SimConfig
from tests.agent.pipeline.support import HashingEmbedder
from tests.support.simulator import RunningSimulator, run_simulator

pytestmark = pytest.mark.anyio

QUERY = "refund policy for opened electronics"
PRICE = ModelPrice(1_000_000, 0, 1_000_000, 1_000_000)  # 1 micro-USD per token
CHUNKS = [
    # Every query word, often, in no particular order: BM25 and the vectors love it.
    Chunk("kb:a@0", "a", "Electronics refunds", "electronics opened policy refund for " * 4, "a"),
    # The exact phrase once, in a longer passage: what a cross-encoder prefers.
    Chunk(
        "kb:b@0",
        "b",
        "Returns handbook",
        "Our stores welcome returns of most goods within thirty days of purchase with a "
        "receipt. The refund policy for opened electronics is store credit only, and "
        "gift cards, perishable food and personalised items cannot be returned at all.",
        "b",
    ),
    Chunk("kb:c@0", "c", "Opening hours", "Stores open at nine and close at six.", "c"),
]


class Prices:
    def cost_usd_micros(self, model: str, usage: Usage) -> int | None:
        return cost_of(PRICE, usage) if model == "rerank-lite" else None


@pytest.fixture
async def sim() -> AsyncIterator[RunningSimulator]:
    async with run_simulator(SimConfig()) as running:
        yield running


async def search_tool(reranker: ProviderReranker | None) -> DocumentSearchTool:
    embedder = HashingEmbedder()
    tool = DocumentSearchTool("kb", embedder, top_k=2, min_score=0.0, reranker=reranker)
    vectors = await embedder.embed([f"{c.title}\n{c.text}" for c in CHUNKS])
    tool.index = HybridIndex(CHUNKS, vectors, embedder)
    return tool


def reranker(http: aiohttp.ClientSession, base_url: str) -> ProviderReranker:
    return ProviderReranker(
        http,
        base_url=base_url,
        api_key="k",
        model="rerank-lite",
        upstream_model="rerank-lite",
        costs=Prices(),
        provider="openai",
    )


class TestRerank:
    async def test_the_rerank_step_reorders_the_fused_candidates_and_reports_its_cost(
        self, sim: RunningSimulator
    ) -> None:
        fused = await (await search_tool(None)).run({"query": QUERY})
        assert [s.doc_id for s in fused.sources] == ["kb:kb:a@0", "kb:kb:b@0"]
        assert fused.calls == []
        async with aiohttp.ClientSession() as http:
            tool = await search_tool(reranker(http, f"{sim.base_url}/v1"))
            reranked = await tool.run({"query": QUERY})
        assert [s.doc_id for s in reranked.sources] == ["kb:kb:b@0", "kb:kb:a@0"]
        assert reranked.sources[0].score > reranked.sources[1].score  # relevance scores
        [call] = reranked.calls
        assert (call.purpose, call.model, call.cost_known) == ("rerank", "rerank-lite", True)
        # Every candidate went to the reranker; it billed its own token count, priced here.
        assert sim.stats().requests["rerank"] == 1
        assert call.usage.prompt > 0 and not call.usage.estimated
        assert call.cost_usd_micros == call.usage.prompt  # 1 micro-USD per token

    async def test_a_failed_rerank_keeps_the_fused_order_and_costs_nothing(self) -> None:
        async with aiohttp.ClientSession() as http:
            # Nothing listens there: the provider is unreachable.
            tool = await search_tool(reranker(http, "http://127.0.0.1:9/v1"))
            found = await tool.run({"query": QUERY})
        assert [s.doc_id for s in found.sources] == ["kb:kb:a@0", "kb:kb:b@0"]
        assert found.calls == []
