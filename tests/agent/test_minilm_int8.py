"""The int8 all-MiniLM-L6-v2 (onnxruntime) against sentence-transformers' float32 output."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from agent.embedders import MiniLMEmbedder, MiniLMModel, minilm_onnx
from agent.embedders.minilm_model import INT8_MODEL_NAME, MODEL_NAME

REFERENCE = Path(__file__).parent.parent / "fixtures" / "minilm_l6_v2_reference.json"


@pytest.fixture(scope="module")
def reference() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(REFERENCE.read_text())
    return data


@pytest.fixture(scope="module")
def int8() -> MiniLMModel:
    return MiniLMModel.load(runtime="int8")


def _unit(rows: list[list[float]]) -> np.ndarray:
    ref = np.asarray(rows, dtype=np.float64)
    unit: np.ndarray = ref / np.linalg.norm(ref, axis=1, keepdims=True)
    return unit


def test_every_reference_sentence_within_cosine_0_99(
    int8: MiniLMModel, reference: dict[str, Any]
) -> None:
    vectors = int8.embed(reference["sentences"])
    cosines = np.einsum("ij,ij->i", vectors.astype(np.float64), _unit(reference["embeddings"]))
    worst = int(np.argmin(cosines))
    assert cosines[worst] >= 0.99, (reference["sentences"][worst], cosines[worst])
    assert cosines.mean() >= 0.997
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)


def test_pair_similarities_stay_near_reference(
    int8: MiniLMModel, reference: dict[str, Any]
) -> None:
    vectors = int8.embed(reference["sentences"])
    drift = [
        abs(float(vectors[p["i"]] @ vectors[p["j"]]) - p["cosine"]) for p in reference["pairs"]
    ]
    assert max(drift) < 0.02, drift
    assert float(np.mean(drift)) < 0.006


def test_a_vector_does_not_depend_on_its_batch(
    int8: MiniLMModel, reference: dict[str, Any]
) -> None:
    # Each text runs on its own (its activation scales are its own), so neighbours and padding
    # change nothing.
    texts = reference["sentences"][:12]
    together = int8.embed(texts)
    alone = np.stack([int8.embed([t])[0] for t in texts])
    np.testing.assert_allclose(together, alone, atol=1e-6)


def test_int8_has_its_own_name(int8: MiniLMModel) -> None:
    # Its vectors differ a little from float32 ones: they must not share a cache partition.
    assert int8.name == INT8_MODEL_NAME != MODEL_NAME
    assert MiniLMModel.load(runtime="float32").name == MODEL_NAME


def test_bundled_ranges_are_what_the_texts_measure(int8: MiniLMModel) -> None:
    calibration = int8.token_ids(minilm_onnx.activation_texts())
    bundled = minilm_onnx.ranges_for(int8.weights, calibration)
    measured = minilm_onnx.measure_ranges(int8.weights, calibration)
    assert len(bundled) == len(measured) == 6
    for saved, fresh in zip(bundled, measured, strict=True):
        assert saved.keys() == fresh.keys() == {"qkv", "out", "up", "down"}
        for name in saved:
            np.testing.assert_allclose(saved[name], fresh[name], rtol=1e-5)


def test_other_weights_are_measured_at_load(int8: MiniLMModel) -> None:
    calibration = int8.token_ids(minilm_onnx.activation_texts()[:8])
    other = type(int8.weights)(
        **{f: getattr(int8.weights, f) for f in int8.weights.__dataclass_fields__}
        | {"word_embeddings": int8.weights.word_embeddings * np.float32(1.01)}
    )
    ranges = minilm_onnx.ranges_for(other, calibration)
    expected = minilm_onnx.measure_ranges(other, calibration)
    np.testing.assert_allclose(ranges[0]["qkv"], expected[0]["qkv"])


def test_auto_falls_back_to_float32_when_int8_disagrees(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(minilm_onnx, "MIN_AGREEMENT", 1.01)  # no int8 pass can agree this well
    with pytest.raises(minilm_onnx.Int8Unusable, match="agrees with float32 only"):
        MiniLMModel.load(runtime="int8")
    with caplog.at_level(logging.WARNING):
        model = MiniLMModel.load(runtime="auto")
    assert model.name == MODEL_NAME
    assert "embedding in float32 numpy" in caplog.text


@pytest.mark.anyio
async def test_embedder_reports_the_int8_name_once_loaded() -> None:
    async with MiniLMEmbedder.load(runtime="int8") as embedder:
        assert embedder.name == INT8_MODEL_NAME
        vectors = await embedder.embed(["Where is my order?", "Thanks!"])
    assert vectors.shape == (2, 384)
    assert float(vectors[0] @ vectors[1]) < 0.5
