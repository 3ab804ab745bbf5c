"""`PairJudge`: all-MiniLM-L6-v2 fine-tuned as a cross-encoder that reads a new question and a
cached one *together* and says how likely the cached answer serves the new question.

A bi-encoder compares two vectors made apart, so "does lifting weights make you a better
runner" and "does running make you a better weightlifter" land close (0.90); a cross-encoder
attends across both questions at once and sees which way round they are. The semantic cache
asks it about the candidate that passed the threshold and the guards (`cache.semantic_cache`).

Trained by `bench.train_pair_judge` on the dev pair files only (``bench/data/semantic/dev_*``;
the held-out files never), with the embeddings frozen, so the bundled ``data/pair_judge.npz``
(~10 MB) holds only what training changed: the six layers, the pooler and the classifier, each
matrix int8 per output row. The embeddings are read from the same checkpoint the embedder
loads; the file records that checkpoint's fingerprint and refuses another. Served in int8
onnxruntime where it agrees with float32 (`pair_judge_int8`, ~4 ms for two short questions),
else in numpy float32 (`minilm_forward.hidden_states`, 13-18 ms): blocking either way, so the
cache runs it in a worker thread (`ThreadedPairJudge`).
"""

from __future__ import annotations

import functools
import hashlib
import io
import logging
from collections.abc import Callable, Sequence
from importlib import resources
from pathlib import Path
from types import TracebackType
from typing import Literal, Self

import numpy as np
import numpy.typing as npt
from tokenizers import Encoding, Tokenizer

from agent.embedders.microbatch import MicroBatcher
from agent.embedders.minilm_forward import hidden_states
from agent.embedders.minilm_graph import PairHead
from agent.embedders.minilm_tokens import unknown_share
from agent.embedders.minilm_weights import (
    MiniLMWeights,
    default_model_dir,
    load_raw,
    read_config,
    weights_from,
)
from cache.errors import EmbeddingError

F32 = npt.NDArray[np.float32]
JUDGE_FILE = "pair_judge.npz"
JUDGE_NAME = "all-MiniLM-L6-v2-pair-judge"
_SCALE_SUFFIX = "|scale"
_META = ("fingerprint", "max_tokens", "expected")
# Pairs per forward pass: short questions, so a whole calibration batch fits in cache.
_BATCH = 32
# The int8 pass's ranges are measured on pairs of the embedder's activation texts (the first
# are CLINC150 and banking77 questions): 96 pairs of two, and 16 of one question twice.
_CALIBRATION_TEXTS = 192
_SAME_PAIRS = 16
Runtime = Literal["auto", "int8", "float32"]
_log = logging.getLogger(__name__)
# A pair with more of its word pieces unknown to the vocabulary than this (Chinese, say, with a
# multilingual embedder) is not judged: the judge cannot read it, so it abstains.
MAX_UNKNOWN_RATIO = 0.10


class JudgeUnusable(RuntimeError):
    """The bundled judge was trained on top of another checkpoint than the one loaded."""


def checkpoint_fingerprint(raw: dict[str, npt.NDArray[np.float32]]) -> str:
    """Identifies the base checkpoint the judge's file applies to (~30 ms)."""
    digest = hashlib.sha256(raw["embeddings.word_embeddings.weight"].tobytes())
    digest.update(raw["encoder.layer.0.attention.self.query.weight"].tobytes())
    return digest.hexdigest()


class PairJudge:
    """Probability that a cached question's answer serves a new question; thread-safe."""

    def __init__(self, weights: MiniLMWeights, head: PairHead, tokenizer: Tokenizer) -> None:
        self.name = JUDGE_NAME
        self.runtime = "float32"
        self._weights = weights
        self._head = head
        self._tokenizer = tokenizer
        self._int8: Callable[[Sequence[Encoding]], F32] | None = None
        self._unk_id = tokenizer.token_to_id("[UNK]")
        self._special_ids = frozenset(tokenizer.token_to_id(t) for t in ("[CLS]", "[SEP]", "[PAD]"))

    @classmethod
    def load(
        cls,
        model_dir: Path | None = None,
        judge_file: Path | None = None,
        *,
        runtime: Runtime = "auto",
    ) -> PairJudge:
        """The base checkpoint (default: the bundled MiniLM) with the judge's trained part.

        ``runtime``: "int8" (onnxruntime, ~1 s more to build and self-check; raises when it
        cannot be used), "float32" (numpy), "auto" (int8 when it agrees with float32 here).
        Raises `JudgeUnusable` when the judge was trained on another checkpoint.
        """
        directory = model_dir or default_model_dir()
        raw = load_raw(directory)
        data = (
            judge_file.read_bytes()
            if judge_file is not None
            else resources.files("agent.embedders").joinpath("data", JUDGE_FILE).read_bytes()
        )
        trained = np.load(io.BytesIO(data))
        if str(trained["fingerprint"]) != checkpoint_fingerprint(raw):
            raise JudgeUnusable("the pair judge was trained on another MiniLM checkpoint")
        replaced = _dequantized(trained)
        raw.update({k: v for k, v in replaced.items() if k.startswith("encoder.")})
        head = PairHead(
            pooler_w=np.ascontiguousarray(replaced["pooler.dense.weight"].T),
            pooler_b=replaced["pooler.dense.bias"],
            classifier_w=np.ascontiguousarray(replaced["classifier.weight"].reshape(-1)),
            classifier_b=float(replaced["classifier.bias"].reshape(-1)[0]),
        )
        tokenizer = Tokenizer.from_file(str(directory / "tokenizer.json"))
        tokenizer.no_padding()
        tokenizer.enable_truncation(max_length=int(trained["max_tokens"]))
        judge = cls(weights_from(raw, read_config(directory)), head, tokenizer)
        if runtime != "float32":
            judge._use_int8(runtime)
        return judge

    def _use_int8(self, runtime: Runtime) -> None:
        try:
            # Imported here: onnxruntime is only loaded for the int8 runtime.
            from agent.embedders.minilm_onnx import activation_texts
            from agent.embedders.pair_judge_int8 import Int8PairPass

            questions = activation_texts()[:_CALIBRATION_TEXTS]
            pairs = [*zip(questions[::2], questions[1::2], strict=True)]
            pairs += [(q, q) for q in questions[:_SAME_PAIRS]]  # a pair of one question, too
            calibration = self._tokenizer.encode_batch(pairs)
            self._int8 = Int8PairPass.build(
                self._weights, self._head, calibration, self._float_logits
            )
            self.runtime = "int8"
        except (ImportError, RuntimeError) as exc:
            if runtime == "int8":
                raise
            _log.warning("int8 pair judge unavailable (%s); judging in float32 numpy", exc)

    def probabilities(self, pairs: Sequence[tuple[str, str]]) -> list[float | None]:
        """For each ``(new question, cached question)``, the probability that the cached
        answer serves the new question, read in that order (trained on both orders; reading
        one halves the cost and measured the same on held-out pairs). None where the judge
        cannot read the pair (`MAX_UNKNOWN_RATIO`): it abstains."""
        encodings = self._tokenizer.encode_batch(list(pairs)) if pairs else []
        judged = [i for i, e in enumerate(encodings) if self._readable(e.ids)]
        out: list[float | None] = [None] * len(pairs)
        for start in range(0, len(judged), _BATCH):
            chunk = judged[start : start + _BATCH]
            logits = self._logits([encodings[i] for i in chunk]).astype(np.float64)
            for i, logit in zip(chunk, logits, strict=True):
                out[i] = float(1.0 / (1.0 + np.exp(-logit)))
        return out

    def _readable(self, ids: list[int]) -> bool:
        has_pieces = any(t not in self._special_ids for t in ids)
        unknown = unknown_share(ids, self._unk_id, self._special_ids)
        return has_pieces and unknown <= MAX_UNKNOWN_RATIO

    def _logits(self, encodings: Sequence[Encoding]) -> F32:
        return self._float_logits(encodings) if self._int8 is None else self._int8(encodings)

    def _float_logits(self, encodings: Sequence[Encoding]) -> F32:
        ids = [e.ids for e in encodings]
        types = [e.type_ids for e in encodings]
        x, batch = hidden_states(self._weights, ids, second_segment=types)
        first = x[batch.starts]  # each pair's [CLS] row
        pooled = np.tanh(first @ self._head.pooler_w + self._head.pooler_b)
        logits: F32 = pooled @ self._head.classifier_w + np.float32(self._head.classifier_b)
        return logits


@functools.cache
def shared_pair_judge(runtime: Runtime = "auto") -> PairJudge:
    """The bundled judge, loaded once per process and runtime (~2.5 s with int8, ~150 MB) and
    shared by every cache."""
    return PairJudge.load(runtime=runtime)


class ThreadedPairJudge:
    """`cache.base.PairJudge` over a `PairJudge`: passes run in a worker thread, one at a time,
    and the pairs of lookups waiting meanwhile go together as the next batch (`MicroBatcher`),
    so the event loop never blocks on a pass and a burst shares passes. Use as
    ``async with ThreadedPairJudge(judge) as threaded: ...``."""

    def __init__(self, judge: PairJudge, *, max_batch: int = _BATCH) -> None:
        self._judge = judge
        self._batcher: MicroBatcher[tuple[str, str], float | None] = MicroBatcher(
            judge.probabilities, max_batch=max_batch, max_concurrent=1
        )

    async def __aenter__(self) -> Self:
        await self._batcher.__aenter__()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self._batcher.__aexit__(exc_type, exc, tb)

    @property
    def name(self) -> str:
        return self._judge.name

    async def probabilities(self, pairs: Sequence[tuple[str, str]]) -> list[float | None]:
        try:
            return await self._batcher.run(list(pairs))
        except Exception as exc:  # the model failed, or the judge is shut: a miss
            raise EmbeddingError(f"{JUDGE_NAME} failed: {exc}") from exc


def _dequantized(trained: np.lib.npyio.NpzFile) -> dict[str, F32]:
    tensors: dict[str, F32] = {}
    for key in trained.files:
        if key in _META or key.endswith(_SCALE_SUFFIX):
            continue
        value = trained[key]
        if value.dtype == np.int8:
            scale = trained[key + _SCALE_SUFFIX]
            tensors[key] = (value.astype(np.float32) * scale[:, None]).astype(np.float32)
        else:
            tensors[key] = np.asarray(value, dtype=np.float32)
    return tensors


def quantized(tensors: dict[str, F32]) -> dict[str, npt.NDArray[np.generic]]:
    """What `PairJudge.load` reads back: matrices int8 per output row, vectors float32."""
    out: dict[str, npt.NDArray[np.generic]] = {}
    for key, value in tensors.items():
        if value.ndim == 2 and value.shape[0] > 1:
            scale = np.maximum(np.abs(value).max(axis=1), 1e-12) / 127.0
            out[key] = np.clip(np.round(value / scale[:, None]), -127, 127).astype(np.int8)
            out[key + _SCALE_SUFFIX] = scale.astype(np.float32)
        else:
            out[key] = np.asarray(value, dtype=np.float32)
    return out
