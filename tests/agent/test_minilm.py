"""The numpy all-MiniLM-L6-v2 against sentence-transformers' own output, and its async face."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import anyio
import numpy as np
import pytest

from agent.base import Embedder
from agent.embedders import MiniLMEmbedder, MiniLMModel
from agent.embedders.minilm_forward import gelu_
from agent.errors import EmbeddingError

# Produced by sentence-transformers (torch, float32, CPU); see the file's "notes".
REFERENCE = Path(__file__).parent.parent / "fixtures" / "minilm_l6_v2_reference.json"


@pytest.fixture(scope="module")
def reference() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(REFERENCE.read_text())
    return data


@pytest.fixture(scope="module")
def model() -> MiniLMModel:
    return MiniLMModel.load()


def _cosines(vectors: np.ndarray, expected: list[list[float]]) -> np.ndarray:
    ref = np.asarray(expected, dtype=np.float64)
    ref /= np.linalg.norm(ref, axis=1, keepdims=True)
    cosines: np.ndarray = np.einsum("ij,ij->i", vectors.astype(np.float64), ref)
    return cosines


class TestMiniLMModel:
    def test_token_ids_match_reference_including_truncation(
        self, model: MiniLMModel, reference: dict[str, Any]
    ) -> None:
        ids = model.token_ids(reference["sentences"])
        assert ids == reference["input_ids"]
        longest = max(range(len(ids)), key=lambda i: reference["token_counts_untruncated"][i])
        assert reference["token_counts_untruncated"][longest] > 256
        assert len(ids[longest]) == 256

    def test_every_sentence_matches_reference_in_one_batch(
        self, model: MiniLMModel, reference: dict[str, Any]
    ) -> None:
        vectors = model.embed(reference["sentences"])
        assert vectors.dtype == np.float32
        assert vectors.shape == (len(reference["sentences"]), 384)
        cosines = _cosines(vectors, reference["embeddings"])
        worst = int(np.argmin(cosines))
        assert cosines[worst] > 0.9999, (reference["sentences"][worst], cosines[worst])
        np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)

    def test_pair_similarities_match_reference(
        self, model: MiniLMModel, reference: dict[str, Any]
    ) -> None:
        vectors = model.embed(reference["sentences"])
        for pair in reference["pairs"]:
            cosine = float(vectors[pair["i"]] @ vectors[pair["j"]])
            assert cosine == pytest.approx(pair["cosine"], abs=5e-4), pair["label"]

    def test_batching_and_padding_do_not_change_vectors(
        self, model: MiniLMModel, reference: dict[str, Any]
    ) -> None:
        sentences = reference["sentences"]
        alone = np.stack([model.embed([s])[0] for s in sentences])
        together = model.embed(sentences)
        np.testing.assert_allclose(together, alone, atol=2e-6)
        cosines = _cosines(alone, reference["embeddings"])
        assert cosines.min() > 0.9999
        # A short text padded next to a long one still gets its own vector.
        mixed = model.embed(["Hello", sentences[15], "?"])
        np.testing.assert_allclose(mixed[0], model.embed(["Hello"])[0], atol=2e-6)

    def test_empty_input_gives_empty_matrix(self, model: MiniLMModel) -> None:
        assert model.embed([]).shape == (0, 384)

    def test_unknown_token_ratio_flags_text_the_vocabulary_lacks(self, model: MiniLMModel) -> None:
        assert model.unknown_token_ratio("我想退款") == pytest.approx(0.75)
        assert model.unknown_token_ratio("如何修改收货地址？") > 0.7
        assert model.unknown_token_ratio("How do I reset my password?") == 0.0
        assert model.unknown_token_ratio("My order is late 😡") == pytest.approx(0.2)
        assert model.unknown_token_ratio("") == 0.0

    def test_gelu_matches_erf_definition(self) -> None:
        from math import erf, sqrt

        xs = np.linspace(-9, 9, 7000, dtype=np.float32).reshape(-1, 70)
        expected = np.array([[v * 0.5 * (1 + erf(v / sqrt(2))) for v in row] for row in xs])
        np.testing.assert_allclose(gelu_(xs.copy()), expected, atol=2e-6)


class TestMiniLMEmbedder:
    @pytest.mark.anyio
    async def test_is_an_embedder_with_model_name_and_dim(self, model: MiniLMModel) -> None:
        async with MiniLMEmbedder(model) as embedder:
            assert isinstance(embedder, Embedder)
            assert (embedder.name, embedder.dim) == ("all-MiniLM-L6-v2", 384)
            vectors = await embedder.embed(["Where is my order?", "Track order"])
        assert vectors.shape == (2, 384)
        assert vectors.dtype == np.float32
        np.testing.assert_allclose(
            vectors, model.embed(["Where is my order?", "Track order"]), atol=2e-6
        )

    @pytest.mark.anyio
    async def test_concurrent_calls_share_forward_passes(
        self, model: MiniLMModel, reference: dict[str, Any]
    ) -> None:
        texts = reference["sentences"][:32]
        results: dict[int, np.ndarray] = {}
        async with MiniLMEmbedder(model, concurrency=2) as embedder:
            sequential = np.stack([(await embedder.embed([t]))[0] for t in texts])
            assert embedder.forward_passes == 32

            async def one(i: int) -> None:
                results[i] = (await embedder.embed([texts[i]]))[0]

            async with anyio.create_task_group() as tg:
                for i in range(32):
                    tg.start_soon(one, i)
            concurrent_passes = embedder.forward_passes - 32
        assert 1 <= concurrent_passes <= 4  # 32 callers, two cores: typically 2 passes of 16
        np.testing.assert_allclose(np.stack([results[i] for i in range(32)]), sequential, atol=2e-6)

    @pytest.mark.anyio
    async def test_large_request_runs_as_its_own_call(self, model: MiniLMModel) -> None:
        texts = [f"question number {i}" for i in range(10)]
        async with MiniLMEmbedder(model, max_batch=4) as embedder:
            vectors = await embedder.embed(texts)
            assert embedder.forward_passes == 1
        np.testing.assert_allclose(vectors, model.embed(texts), atol=2e-6)

    @pytest.mark.anyio
    async def test_loads_bundled_weights_on_enter(self) -> None:
        async with MiniLMEmbedder.load() as embedder:
            assert embedder.unknown_token_ratio("今天天气很好") > 0.5
            vectors = await embedder.embed(["Refund please"])
        assert np.linalg.norm(vectors[0]) == pytest.approx(1.0, abs=1e-5)

    @pytest.mark.anyio
    async def test_embed_outside_context_raises_embedding_error(self, model: MiniLMModel) -> None:
        embedder = MiniLMEmbedder(model)
        with pytest.raises(EmbeddingError) as info:
            await embedder.embed(["a", "b"])
        assert info.value.failed_indexes == [0, 1]
        async with embedder:
            assert (await embedder.embed([])).shape == (0, 384)
        with pytest.raises(EmbeddingError):
            await embedder.embed(["after exit"])
