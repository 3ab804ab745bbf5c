"""The synchronous all-MiniLM-L6-v2 model: tokenizer, weights and batching of one forward call.

This is the blocking half; `agent.embedders.minilm.MiniLMEmbedder` runs it off the event loop.
Texts are tokenised without padding (the bundled tokenizer.json pads everything to 128; we pad
nothing, the forward pass packs tokens) and truncated at the reference's ``max_seq_length`` 256.
A call sorts texts by length and splits them into chunks whose attention grid stays small, so
one long document does not make thirty short queries attend over 256 padded positions.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from functools import partial
from pathlib import Path
from typing import Literal

import numpy as np
import numpy.typing as npt

from agent.embedders.minilm_forward import encode
from agent.embedders.minilm_tokens import MiniLMTokens
from agent.embedders.minilm_weights import MiniLMWeights, default_model_dir, load_weights

MODEL_NAME = "all-MiniLM-L6-v2"
# int8 vectors differ slightly from float32 ones, so they get their own name (and thereby their
# own semantic-cache partition and knowledge-base snapshots).
INT8_MODEL_NAME = f"{MODEL_NAME}-int8"
# "int8": onnxruntime with int8 dense layers (~5x faster); "float32": the exact numpy pass;
# "auto": int8 when onnxruntime is installed and agrees with float32 here, else float32.
Runtime = Literal["auto", "int8", "float32"]
Forward = Callable[[list[list[int]]], npt.NDArray[np.float32]]
_log = logging.getLogger(__name__)
# Per chunk: at most this many texts, and texts x longest^2 at most this (the attention score
# grid is 12 heads x that many float32, here ~12 MB).
MAX_CHUNK_TEXTS = 64
MAX_CHUNK_ATTENTION = 1 << 18


class MiniLMModel:
    """all-MiniLM-L6-v2 (numpy float32 or onnxruntime int8); `embed` blocks the calling thread."""

    def __init__(
        self,
        weights: MiniLMWeights,
        tokens: MiniLMTokens,
        forward: Forward | None = None,
        name: str = MODEL_NAME,
    ) -> None:
        self.weights = weights
        self.name = name
        self.tokens = tokens
        self._forward: Forward = forward or partial(encode, weights)

    @classmethod
    def load(
        cls,
        model_dir: Path | None = None,
        *,
        max_tokens: int | None = None,
        runtime: Runtime = "float32",
    ) -> MiniLMModel:
        """Read the bundled (or given) checkpoint; takes ~0.2 s and ~100 MB of RSS (float32).

        ``runtime="int8"`` also builds the onnxruntime pass (~1.5 s more, ~90 MB more RSS) and
        raises if it cannot be used; ``"auto"`` then falls back to float32 with a warning.

        No process-wide side effects: the server tunes malloc and BLAS threads at start-up
        (`server.process_tuning`), a library user decides for its own process.
        """
        directory = model_dir or default_model_dir()
        tokens = MiniLMTokens.load(directory, max_tokens)
        weights = load_weights(directory)
        if runtime == "float32":
            return cls(weights, tokens)
        try:
            forward = _int8_forward(weights, tokens)
        except (ImportError, RuntimeError) as exc:
            if runtime == "int8":
                raise
            _log.warning("int8 MiniLM unavailable (%s); embedding in float32 numpy", exc)
            return cls(weights, tokens)
        return cls(weights, tokens, forward, INT8_MODEL_NAME)

    @property
    def dim(self) -> int:
        """Length of each vector (384)."""
        return self.weights.hidden

    def token_ids(self, texts: Sequence[str]) -> list[list[int]]:
        """Word-piece ids per text, with [CLS]/[SEP], truncated; exactly what the model sees."""
        return self.tokens.token_ids(texts)

    def unknown_token_ratio(self, text: str) -> float:
        """Fraction of the text's word pieces (not [CLS]/[SEP]) that are [UNK]; 0.0 if none."""
        return self.tokens.unknown_token_ratio(text)

    def truncated(self, text: str) -> bool:
        """Whether ``text`` is longer than the model's window, so its vector ignores the tail."""
        return self.tokens.truncated(text)

    def embed(self, texts: Sequence[str]) -> npt.NDArray[np.float32]:
        """Return ``(len(texts), 384)`` L2-normalised float32 rows, row *i* for ``texts[i]``."""
        return self.embed_ids(self.token_ids(texts))

    def embed_ids(self, ids: Sequence[list[int]]) -> npt.NDArray[np.float32]:
        """`embed` for texts already tokenised by `token_ids` (what a helper process receives)."""
        out = np.empty((len(ids), self.dim), dtype=np.float32)
        for chunk in _length_chunks([len(i) for i in ids]):
            out[chunk] = self._forward([ids[i] for i in chunk])
        return out


def _int8_forward(weights: MiniLMWeights, tokens: MiniLMTokens) -> Forward:
    # Imported here: onnxruntime is only needed (and only loaded) for the int8 runtime.
    from agent.embedders.minilm_onnx import Int8Forward, activation_texts

    calibration = tokens.token_ids(activation_texts())
    return Int8Forward.build(weights, calibration)


def _length_chunks(lengths: list[int]) -> list[list[int]]:
    """Indexes grouped by similar length: shortest first, each chunk within both caps."""
    chunks: list[list[int]] = []
    current: list[int] = []
    for i in sorted(range(len(lengths)), key=lengths.__getitem__):
        longest = lengths[i]  # sorted, so the newest member is the longest
        n = len(current) + 1
        if current and (n > MAX_CHUNK_TEXTS or n * longest * longest > MAX_CHUNK_ATTENTION):
            chunks.append(current)
            current = []
        current.append(i)
    if current:
        chunks.append(current)
    return chunks
