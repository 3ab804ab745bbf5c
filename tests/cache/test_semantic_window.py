"""Prompts longer than the embedder's window are never matched on their head alone: a long
message is split into a keyed context and an embedded question, and one that cannot be split
is refused."""

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
async def test_a_shared_long_document_is_keyed_and_only_the_questions_compared(
    minilm: MiniLMEmbedder,
) -> None:
    first = _DOC + " Question: how many days do I have to return an item?"
    second = _DOC + " Question: who pays for the return shipping?"
    vectors = await minilm.embed([first, second])
    assert float(vectors[0] @ vectors[1]) > 0.999  # whole, the tails are cut off
    cache = SemanticCache(
        minilm, unknown_ratio=minilm.unknown_token_ratio, truncated=minilm.truncated
    )
    assert await cache.store(first, b"answer", tenant="t", tier="cheap", ttl_s=60.0)
    other_question = await cache.lookup(second, tenant="t", tier="cheap")
    assert other_question.entry is None
    reworded = _DOC + " Question: how many days do I have to return an item"
    assert (await cache.lookup(reworded, tenant="t", tier="cheap")).reason == "hit"
    other_document = _DOC.replace("receipt", "invoice") + " Question: how many days do I have"
    other_document += " to return an item?"
    found = await cache.lookup(other_document, tenant="t", tier="cheap")
    assert (found.entry, found.reason) == (None, "empty")  # another partition


@pytest.mark.anyio
async def test_a_long_text_without_sentence_boundaries_is_too_long(
    minilm: MiniLMEmbedder,
) -> None:
    unbroken = " ".join(["return the unused items within the period"] * 40)
    cache = SemanticCache(
        minilm, unknown_ratio=minilm.unknown_token_ratio, truncated=minilm.truncated
    )
    assert not await cache.store(unbroken + " a", b"answer", tenant="t", tier="c", ttl_s=60.0)
    found = await cache.lookup(unbroken + " b", tenant="t", tier="c")
    assert (found.entry, found.reason) == (None, "too_long")


@pytest.mark.anyio
async def test_the_multilingual_embedder_compares_questions_after_a_shared_document() -> None:
    doc = _DOC + " " + _DOC  # over e5's 512-token window as a whole
    first = doc + " 问题：退货期限是多少天？"
    second = doc + " 问题：退货运费由谁承担？"
    async with E5Embedder() as e5:
        assert e5.truncated(doc) and not e5.truncated(_DOC[:1000])
        cache = SemanticCache(e5, threshold=0.985, truncated=e5.truncated)
        assert await cache.store(first, b"answer", tenant="t", tier="cheap", ttl_s=60.0)
        found = await cache.lookup(second, tenant="t", tier="cheap")
        assert found.entry is None
        assert (await cache.lookup(first, tenant="t", tier="cheap")).reason == "hit"


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
