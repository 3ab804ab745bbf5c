"""One request, one embedding: a semantic miss carries its lookup's vector to the store, on the
``/v1`` core's cache stage (`WireCache`) and on the ``/chat`` pipeline's (`AnswerCache`)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Sequence

import numpy as np
import numpy.typing as npt
import pytest

from agent.core.cache_policy import WireCache
from agent.core.request import decode_completion_request
from agent.embedders import MiniLMEmbedder
from agent.pipeline.answer_cache import AnswerCache
from agent.types import Message, Usage
from cache.prompt_cache import CachedAnswer
from cache.semantic_cache import QueryVector, SemanticCache

pytestmark = pytest.mark.anyio

QUESTIONS = (
    "How do I reset my password?",
    "What payment methods do you accept?",
    "How long does shipping to Canada take?",
    "Can I change the delivery address after ordering?",
)


class CountingEmbedder:
    """The real MiniLM embedder, counting the texts it is asked to embed."""

    def __init__(self, inner: MiniLMEmbedder) -> None:
        self._inner = inner
        self.texts: list[str] = []

    @property
    def name(self) -> str:
        return self._inner.name

    @property
    def dim(self) -> int:
        return self._inner.dim

    async def embed(self, texts: Sequence[str]) -> npt.NDArray[np.float32]:
        self.texts.extend(texts)
        return await self._inner.embed(texts)


@pytest.fixture
async def counting() -> AsyncIterator[CountingEmbedder]:
    async with MiniLMEmbedder.load() as embedder:
        yield CountingEmbedder(embedder)


def completion(text: str) -> dict[str, object]:
    message = {"role": "assistant", "content": text}
    return {"object": "chat.completion", "choices": [{"index": 0, "message": message}]}


async def test_a_v1_miss_embeds_its_question_once(counting: CountingEmbedder) -> None:
    cache = WireCache(None, SemanticCache(counting))
    for number, question in enumerate(QUESTIONS):
        raw = json.dumps(
            {"model": "m", "temperature": 0, "messages": [{"role": "user", "content": question}]}
        ).encode()
        scope = cache.scope(decode_completion_request(raw))
        before = len(counting.texts)
        hit, _, semantic = await cache.read(scope)
        assert hit is None and semantic in {"miss", "below_threshold"}
        written = await cache.write(
            scope,
            completion(f"answer {number}"),
            model="m",
            usage=Usage(prompt=5, completion=2),
            cost_usd_micros=10,
            finish_reasons=("stop",),
            used_fallback=False,
        )
        assert written == "stored:default"
        assert len(counting.texts) - before == 1  # lookup + store of one miss
    # Every entry went in under its own vector: each question is now a hit.
    again = cache.scope(decode_completion_request(raw))
    hit, _, semantic = await cache.read(again)
    assert semantic == "hit" and hit is not None and hit.score == pytest.approx(1.0, abs=1e-3)


async def test_a_chat_miss_embeds_its_question_once(counting: CountingEmbedder) -> None:
    cache = AnswerCache(None, SemanticCache(counting))
    for question in QUESTIONS:
        scope = cache.scope(
            mode="default",
            temperature=0.0,
            tenant="acme",
            tier_key="cheap",
            conversation=[Message("user", question)],
            system=None,
            tools=(),
            user_id=None,
            personal=False,
        )
        before = len(counting.texts)
        read = await cache.read(scope)
        assert read.answer is None
        answer = CachedAnswer(answer=f"about {question}", model="m", created_at=0.0)
        written = await cache.write(scope, answer, content_class="default", tags=("doc-1",))
        assert written == "stored:default"
        assert len(counting.texts) - before == 1
    # The tags reached the semantic entries: invalidating the document drops them all.
    removed = await cache.invalidate_tag("doc-1")
    assert len(removed.semantic) == len(QUESTIONS)


async def test_a_store_for_another_text_does_not_reuse_the_vector(
    counting: CountingEmbedder,
) -> None:
    cache = SemanticCache(counting)
    memo = QueryVector()
    await cache.store("first question", b"1", tenant="t", tier="x", ttl_s=60, memo=memo)
    await cache.lookup("first question", tenant="t", tier="x", memo=memo)
    assert counting.texts == ["first question"]  # the lookup reused the store's vector
    await cache.store("second question", b"2", tenant="t", tier="x", ttl_s=60, memo=memo)
    assert counting.texts == ["first question", "second question"]
