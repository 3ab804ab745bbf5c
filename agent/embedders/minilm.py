"""`MiniLMEmbedder`: the local all-MiniLM-L6-v2 `Embedder`, micro-batched, off the event loop.

    async with MiniLMEmbedder.load() as embedder:
        vectors = await embedder.embed(["Where is my order?"])

Entering loads the model in a worker thread (once per process and runtime: embedders share it)
unless a loaded `MiniLMModel` was given, and starts the micro-batch worker; leaving stops it.
Concurrent small ``embed`` calls are merged into one forward pass; up to ``concurrency``
passes run at once (one per core, each single-threaded — see `blas_threads`).

With ``helper_process=True`` (the gateway's default) the forward passes run in a helper process
instead (`agent.embedders.forward_process`, one per process, shared): this process only
tokenises, and its event loop no longer shares the GIL with the passes.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType
from typing import Self

import anyio
import numpy as np
import numpy.typing as npt

from agent.embedders.forward_client import ForwardClient
from agent.embedders.forward_process import (
    ForwardProcess,
    ForwardUnavailable,
    shared_forward_process,
)
from agent.embedders.microbatch import MicroBatcher
from agent.embedders.minilm_model import MODEL_NAME, MiniLMModel, Runtime
from agent.embedders.minilm_tokens import MiniLMTokens
from agent.embedders.minilm_weights import default_model_dir
from agent.errors import EmbeddingError

Row = npt.NDArray[np.float32]
_log = logging.getLogger(__name__)


@functools.lru_cache(maxsize=4)
def _shared_model(model_dir: Path | None, runtime: Runtime) -> MiniLMModel:
    # A loaded model is read-only and thread-safe, so embedders of one process (the gateway's,
    # a test's several gateways) share it: one load (~1.5 s for int8) and one copy in memory.
    return MiniLMModel.load(model_dir, runtime=runtime)


@functools.lru_cache(maxsize=4)
def _shared_tokens(model_dir: Path | None) -> MiniLMTokens:
    return MiniLMTokens.load(model_dir or default_model_dir())


class MiniLMEmbedder:
    """all-MiniLM-L6-v2 run locally (numpy or onnxruntime): 384-d unit vectors, no network.

    Implements `agent.base.Embedder`; only usable inside ``async with``.
    """

    def __init__(
        self,
        model: MiniLMModel | None = None,
        *,
        model_dir: Path | None = None,
        runtime: Runtime = "float32",
        concurrency: int = 2,
        max_batch: int = 64,
        linger_s: float = 0.0,
        helper_process: bool = False,
    ) -> None:
        self._model = model
        self._helper_process = helper_process and model is None
        self._helper: ForwardProcess | None = None
        self._client: ForwardClient | None = None
        self._helper_name = MODEL_NAME
        self._tokens: MiniLMTokens | None = None if model is None else model.tokens
        self._model_dir = model_dir
        self._runtime: Runtime = runtime
        self._limiter = anyio.CapacityLimiter(concurrency)
        self._max_batch = max_batch
        self._batcher: MicroBatcher[str, Row] = MicroBatcher(
            self._embed_rows,
            max_batch=max_batch,
            max_concurrent=concurrency,
            linger_s=linger_s,
            limiter=self._limiter,
        )
        self._running = False
        self._direct_calls = 0

    @classmethod
    def load(
        cls,
        model_dir: Path | None = None,
        *,
        runtime: Runtime = "float32",
        concurrency: int = 2,
        max_batch: int = 64,
        linger_s: float = 0.0,
        helper_process: bool = False,
    ) -> MiniLMEmbedder:
        """An embedder for the bundled (or given) checkpoint; weights load on ``async with``.

        *runtime*: see `MiniLMModel.load` (the server's default is ``auto``, i.e. int8).
        *concurrency* forward passes run at once (set it to the cores to give embedding);
        *linger_s* holds a lone request that long hoping for company (measured: no gain with
        ``concurrency`` >= 2, so 0 by default); *helper_process*: see the module docstring.
        """
        return cls(
            model_dir=model_dir,
            runtime=runtime,
            concurrency=concurrency,
            max_batch=max_batch,
            linger_s=linger_s,
            helper_process=helper_process,
        )

    async def __aenter__(self) -> Self:
        if self._helper_process:
            try:
                self._helper = await anyio.to_thread.run_sync(
                    shared_forward_process, self._runtime, self._model_dir
                )
            except (ForwardUnavailable, OSError) as exc:
                _log.warning("no forward-pass helper (%s); embedding in this process", exc)
        if self._helper is not None:
            self._tokens = _shared_tokens(self._model_dir)
            self._helper_name = self._helper.hello().name  # fixed: it keys the cache
            self._client = await ForwardClient(self._helper).__aenter__()
        elif self._model is None:
            self._model = await anyio.to_thread.run_sync(self._load)
            self._tokens = self._model.tokens
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
        client, self._client = self._client, None
        try:
            return await self._batcher.__aexit__(exc_type, exc, tb)
        finally:  # entered before the batcher, so left after it
            if client is not None:
                await client.__aexit__(None, None, None)

    def _load(self) -> MiniLMModel:
        return _shared_model(self._model_dir, self._runtime)

    @property
    def name(self) -> str:
        """``all-MiniLM-L6-v2``, or ``all-MiniLM-L6-v2-int8`` once the int8 pass is loaded."""
        if self._helper is not None:
            return self._helper_name
        return MODEL_NAME if self._model is None else self._model.name

    @property
    def dim(self) -> int:
        """384."""
        return 384

    @property
    def model(self) -> MiniLMModel:
        """The loaded model; raises `EmbeddingError` before ``async with``."""
        if self._model is None:
            raise EmbeddingError("MiniLMEmbedder used before its weights were loaded")
        return self._model

    @property
    def tokens(self) -> MiniLMTokens:
        """The tokenizer; raises `EmbeddingError` before ``async with``."""
        if self._tokens is None:
            raise EmbeddingError("MiniLMEmbedder used before its tokenizer was loaded")
        return self._tokens

    @property
    def helper(self) -> ForwardProcess | None:
        """The helper process running the forward passes (None: they run in threads here)."""
        return self._helper

    @property
    def forward_passes(self) -> int:
        """Model calls made so far (one per micro-batch or large request)."""
        return self._batcher.batches_run + self._direct_calls

    async def embed(self, texts: Sequence[str]) -> npt.NDArray[np.float32]:
        """Return ``(len(texts), 384)`` L2-normalised float32 rows, row *i* for ``texts[i]``.

        Raises `EmbeddingError` (every index failed) if the model raised or the embedder is not
        running. Requests larger than ``max_batch`` skip the batcher and run as their own call.
        """
        if not texts:
            return np.empty((0, self.dim), dtype=np.float32)
        if not self._running:
            raise EmbeddingError(
                "MiniLMEmbedder is not running; use `async with`",
                failed_indexes=list(range(len(texts))),
            )
        if self._client is not None:
            return await self._embed_in_helper(self._client, texts)
        try:
            if len(texts) > self._max_batch:
                self._direct_calls += 1
                return await anyio.to_thread.run_sync(
                    self.model.embed, list(texts), limiter=self._limiter
                )
            rows = await self._batcher.run(list(texts))
        except Exception as exc:  # BatchFailed, BatcherClosed, or the model on the direct path
            raise EmbeddingError(
                f"{MODEL_NAME} failed: {exc}", failed_indexes=list(range(len(texts)))
            ) from exc
        return np.stack(rows)

    async def _embed_in_helper(
        self, client: ForwardClient, texts: Sequence[str]
    ) -> npt.NDArray[np.float32]:
        self._direct_calls += 1
        try:
            return await client.forward(self.tokens.token_ids(texts))
        except RuntimeError as exc:  # ForwardUnavailable, or the helper's pass failed
            raise EmbeddingError(
                f"{MODEL_NAME} failed: {exc}",
                failed_indexes=list(range(len(texts))),
                # A helper that is down is restarting (~2 s): a retry at once would only wait.
                retryable=not isinstance(exc, ForwardUnavailable),
            ) from exc

    def unknown_token_ratio(self, text: str) -> float:
        """Fraction of *text*'s word pieces the vocabulary maps to [UNK] (0.0 for no pieces).

        Cheap (one tokenisation, tens of microseconds), so it runs inline.
        """
        return self.tokens.unknown_token_ratio(text)

    def truncated(self, text: str) -> bool:
        """Whether *text* exceeds the 256-token window (its vector would only see the head)."""
        return self.tokens.truncated(text)

    def _embed_rows(self, texts: list[str]) -> list[Row]:
        return list(self.model.embed(texts))
