"""The int8 all-MiniLM-L6-v2 forward pass in onnxruntime: ~1.3 ms for a short question.

Built at load from the same weights as the numpy pass, with no exported file and no network:
1. every dense layer's input range per channel comes from `data/minilm_activation_ranges.npz`,
   measured by the float32 numpy pass on the bundled `data/activation_texts.txt` (regenerate with
   ``python -m agent.embedders.minilm_ranges``; a checkpoint other than the bundled one is measured
   at load instead, ~2 s);
2. `minilm_graph.build_graph` writes the graph with int8 dense layers scaled from those ranges;
3. onnxruntime loads it with one intra-op thread per call (the embedder runs one call per core);
4. a self-check embeds a few texts both ways and refuses the int8 pass if any cosine falls
   below `MIN_AGREEMENT` (an int8 kernel that saturates on some CPU, say), so the caller falls
   back to float32 instead of serving wrong vectors.
"""

from __future__ import annotations

import hashlib
import io
from importlib import resources
from pathlib import Path

import numpy as np
import numpy.typing as npt
import onnx
import onnxruntime as ort

from agent.embedders.minilm_forward import encode, hidden_states
from agent.embedders.minilm_graph import (
    ATTENTION_MASK,
    INPUT_IDS,
    OUTPUT,
    ActivationRanges,
    build_graph,
)
from agent.embedders.minilm_weights import MiniLMWeights

F32 = npt.NDArray[np.float32]
# The int8 pass must agree with float32 at least this well on every self-check text; measured
# 0.992 at worst on the 48 reference sentences (a lone "?"), 0.998 on average.
MIN_AGREEMENT = 0.98
_SELF_CHECK_TEXTS = 12
OUTPUT_DIM = 384
# Texts per float32 pass while measuring ranges (keeps the attention grid small).
_RANGE_BATCH = 16


class Int8Unusable(RuntimeError):
    """The int8 pass disagrees with float32 on this machine; use the float32 pass."""


_DATA = resources.files("agent.embedders").joinpath("data")
RANGES_FILE = "minilm_activation_ranges.npz"
_LINEARS = ("qkv", "out", "up", "down")


def activation_texts() -> list[str]:
    """The bundled texts whose activations set the int8 scales (see ``data/README.md``)."""
    raw = _DATA.joinpath("activation_texts.txt").read_text()
    return [line for line in raw.splitlines() if line.strip()]


def fingerprint(weights: MiniLMWeights) -> str:
    """Identifies a checkpoint cheaply enough for every load (~30 ms)."""
    digest = hashlib.sha256(weights.word_embeddings.tobytes())
    digest.update(weights.layers[-1].down_w.tobytes())
    return digest.hexdigest()


def ranges_for(weights: MiniLMWeights, calibration_ids: list[list[int]]) -> ActivationRanges:
    """The bundled ranges when they were measured on *weights*, else measured now."""
    saved = np.load(io.BytesIO(_DATA.joinpath(RANGES_FILE).read_bytes()))
    if str(saved["fingerprint"]) != fingerprint(weights):
        return measure_ranges(weights, calibration_ids)
    return [{n: saved[f"{i}.{n}"] for n in _LINEARS} for i in range(len(weights.layers))]


def write_ranges(weights: MiniLMWeights, calibration_ids: list[list[int]], path: Path) -> None:
    """Measure the ranges on *weights* and save them with its fingerprint."""
    ranges = measure_ranges(weights, calibration_ids)
    arrays: dict[str, npt.NDArray[np.generic]] = {
        f"{i}.{n}": r[n] for i, r in enumerate(ranges) for n in _LINEARS
    }
    arrays["fingerprint"] = np.asarray(fingerprint(weights))
    np.savez_compressed(path, allow_pickle=False, **arrays)


def measure_ranges(
    weights: MiniLMWeights,
    token_ids: list[list[int]],
    second_segment: list[list[int]] | None = None,
) -> ActivationRanges:
    """Per layer and dense layer, the largest absolute value each input channel took
    (*second_segment*: sentence pairs' token types, as `minilm_forward.hidden_states`)."""
    ranges: ActivationRanges = [{} for _ in weights.layers]

    def probe(layer: int, name: str, rows: F32) -> None:
        seen = np.abs(rows).max(axis=0)
        old = ranges[layer].get(name)
        ranges[layer][name] = seen if old is None else np.maximum(old, seen)

    order = sorted(range(len(token_ids)), key=lambda i: len(token_ids[i]))
    for start in range(0, len(order), _RANGE_BATCH):
        chunk = order[start : start + _RANGE_BATCH]
        types = None if second_segment is None else [second_segment[i] for i in chunk]
        hidden_states(weights, [token_ids[i] for i in chunk], probe, types)
    return ranges


def session_for(model: onnx.ModelProto) -> ort.InferenceSession:
    """An onnxruntime session on one core: one intra-op thread per call (callers run one call
    per core), every graph optimisation."""
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.log_severity_level = 3  # warnings about unused initializers are noise here
    return ort.InferenceSession(
        model.SerializeToString(), options, providers=["CPUExecutionProvider"]
    )


class Int8Forward:
    """Embeds token ids with the int8 graph; thread-safe (onnxruntime sessions are)."""

    def __init__(self, session: ort.InferenceSession) -> None:
        self._session = session

    @classmethod
    def build(cls, weights: MiniLMWeights, calibration_ids: list[list[int]]) -> Int8Forward:
        """Measure ranges on *calibration_ids*, build the graph, start a session, self-check.

        Raises `Int8Unusable` when the int8 vectors disagree with float32 on this machine.
        """
        model = build_graph(weights, ranges_for(weights, calibration_ids))
        forward = cls(session_for(model))
        check = sorted(calibration_ids, key=len)[:: len(calibration_ids) // _SELF_CHECK_TEXTS]
        check = check[:_SELF_CHECK_TEXTS]  # short to long, but not the longest (fast to check)
        agreement = float(np.min(np.sum(forward(check) * encode(weights, check), axis=1)))
        if agreement < MIN_AGREEMENT:
            raise Int8Unusable(
                f"int8 MiniLM agrees with float32 only to cosine {agreement:.4f} on this machine"
            )
        return forward

    def __call__(self, token_ids: list[list[int]]) -> F32:
        """``(len(token_ids), 384)`` unit rows, one run per text: the activations' int8 scale
        is per run (see `minilm_graph._linear`), so a text's vector is the same in any batch;
        batching did not pay anyway (measured: ~1.3-1.8 ms per text at every batch size)."""
        out = np.empty((len(token_ids), OUTPUT_DIM), dtype=np.float32)
        for row, text_ids in enumerate(token_ids):
            ids = np.asarray([text_ids], dtype=np.int64)
            mask = np.ones(ids.shape, dtype=np.float32)
            out[row] = self._session.run([OUTPUT], {INPUT_IDS: ids, ATTENTION_MASK: mask})[0][0]
        return out
