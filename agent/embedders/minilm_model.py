"""The synchronous all-MiniLM-L6-v2 model: tokenizer, weights and batching of one forward call.

This is the blocking half; `agent.embedders.minilm.MiniLMEmbedder` runs it off the event loop.
Texts are tokenised without padding (the bundled tokenizer.json pads everything to 128; we pad
nothing, the forward pass packs tokens) and truncated at the reference's ``max_seq_length`` 256.
A call sorts texts by length and splits them into chunks whose attention grid stays small, so
one long document does not make thirty short queries attend over 256 padded positions.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Sequence
from functools import lru_cache, partial
from pathlib import Path
from typing import Literal, NamedTuple

import numpy as np
import numpy.typing as npt
from tokenizers import Tokenizer

from agent.embedders.minilm_forward import encode
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
_ENCODINGS_KEPT = 4096
_CACHED_BATCH = 16  # token_ids of up to this many texts go through the per-text cache
# Sentence-transformers' max_seq_length for this model (sentence_bert_config.json).
DEFAULT_MAX_TOKENS = 256
# Per chunk: at most this many texts, and texts x longest^2 at most this (the attention score
# grid is 12 heads x that many float32, here ~12 MB).
MAX_CHUNK_TEXTS = 64
MAX_CHUNK_ATTENTION = 1 << 18


class _Tokens(NamedTuple):
    """What the model and the cache's checks need from one text's tokenisation, read out of the
    tokenizer's `Encoding` once: its ``ids`` and ``overflowing`` properties build new Python
    objects on every access (~10 us a lookup made them cost ~0.25 ms per request)."""

    ids: list[int]
    truncated: bool
    unknown_ratio: float


class MiniLMModel:
    """all-MiniLM-L6-v2 (numpy float32 or onnxruntime int8); `embed` blocks the calling thread."""

    def __init__(
        self,
        weights: MiniLMWeights,
        tokenizer: Tokenizer,
        forward: Forward | None = None,
        name: str = MODEL_NAME,
    ) -> None:
        self.weights = weights
        self.name = name
        self._forward: Forward = forward or partial(encode, weights)
        self._tokenizer = tokenizer
        # A request's text is tokenised by the window and vocabulary checks of its lookup, its
        # store and every candidate it is compared with, and by the forward pass: once is
        # enough (~50 us each).
        self._tokens = lru_cache(maxsize=_ENCODINGS_KEPT)(self._tokenise)
        self._unk_id = tokenizer.token_to_id("[UNK]")
        self._special_ids = frozenset(tokenizer.token_to_id(t) for t in ("[CLS]", "[SEP]", "[PAD]"))

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
        if max_tokens is None:
            st_config = directory / "sentence_bert_config.json"
            max_tokens = DEFAULT_MAX_TOKENS
            if st_config.exists():
                max_tokens = int(json.loads(st_config.read_text())["max_seq_length"])
        tokenizer = Tokenizer.from_file(str(directory / "tokenizer.json"))
        tokenizer.no_padding()
        tokenizer.enable_truncation(max_length=max_tokens)
        weights = load_weights(directory)
        if runtime == "float32":
            return cls(weights, tokenizer)
        try:
            forward = _int8_forward(weights, tokenizer)
        except (ImportError, RuntimeError) as exc:
            if runtime == "int8":
                raise
            _log.warning("int8 MiniLM unavailable (%s); embedding in float32 numpy", exc)
            return cls(weights, tokenizer)
        return cls(weights, tokenizer, forward, INT8_MODEL_NAME)

    @property
    def dim(self) -> int:
        """Length of each vector (384)."""
        return self.weights.hidden

    def token_ids(self, texts: Sequence[str]) -> list[list[int]]:
        """Word-piece ids per text, with [CLS]/[SEP], truncated; exactly what the model sees."""
        if len(texts) > _CACHED_BATCH:  # bulk (documents, calibration): not worth keeping
            return [e.ids for e in self._tokenizer.encode_batch(list(texts))]
        # A request's few texts are already cached by its checks (and encode_batch would start
        # the tokenizer's own thread pool on cores the forward pass is using).
        return [self._tokens(text).ids for text in texts]

    def unknown_token_ratio(self, text: str) -> float:
        """Fraction of the text's word pieces (not [CLS]/[SEP]) that are [UNK]; 0.0 if none.

        A high ratio (Chinese, emoji-only) means the vector says little about the text.
        """
        return self._tokens(text).unknown_ratio

    def truncated(self, text: str) -> bool:
        """Whether ``text`` is longer than the model's window, so its vector ignores the tail."""
        return self._tokens(text).truncated

    def _tokenise(self, text: str) -> _Tokens:
        encoding = self._tokenizer.encode(text)
        ids = encoding.ids
        pieces = [t for t in ids if t not in self._special_ids]
        unknown = sum(1 for t in pieces if t == self._unk_id) / len(pieces) if pieces else 0.0
        return _Tokens(ids, bool(encoding.overflowing), unknown)

    def embed(self, texts: Sequence[str]) -> npt.NDArray[np.float32]:
        """Return ``(len(texts), 384)`` L2-normalised float32 rows, row *i* for ``texts[i]``."""
        out = np.empty((len(texts), self.dim), dtype=np.float32)
        if not texts:
            return out
        ids = self.token_ids(texts)
        for chunk in _length_chunks([len(i) for i in ids]):
            out[chunk] = self._forward([ids[i] for i in chunk])
        return out


def _int8_forward(weights: MiniLMWeights, tokenizer: Tokenizer) -> Forward:
    # Imported here: onnxruntime is only needed (and only loaded) for the int8 runtime.
    from agent.embedders.minilm_onnx import Int8Forward, activation_texts

    calibration = [e.ids for e in tokenizer.encode_batch(activation_texts())]
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
