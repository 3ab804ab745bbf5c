"""`BatchEmbedder`: any `Embedder`, fed in bounded, concurrent, retried batches.

For bulk work (indexing a knowledge base, warming a cache) against a provider with request-size
and rate limits, or the local model. Output order is input order whatever order batches finish
in; a failing batch is retried on its own, and a batch that never succeeds is reported by the
exact input indexes it covered.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence

import anyio
import numpy as np
import numpy.typing as npt

from agent.base import Embedder
from agent.errors import AgentError, EmbeddingError, ProviderError, RateLimited

# Longest wait a provider's Retry-After may impose before we try a batch again.
_MAX_RETRY_AFTER_S = 30.0

_Call = Callable[[Sequence[str]], Awaitable[npt.NDArray[np.float32]]]


def _retryable(exc: AgentError) -> bool:
    if isinstance(exc, ProviderError):
        return exc.retryable
    return isinstance(exc, EmbeddingError) and exc.retryable


class BatchEmbedder:
    """Wraps *inner*, splitting ``embed`` calls into ``batch_size`` slices; itself an `Embedder`.

    At most ``max_concurrency`` slices are in flight; consecutive provider calls (retries
    included) start at least ``delay_between_batches_s`` apart; each slice gets up to
    ``max_attempts`` tries with a doubling backoff from ``retry_backoff_s`` (or the provider's
    Retry-After, when it sends one).
    """

    def __init__(
        self,
        inner: Embedder,
        *,
        batch_size: int = 100,
        max_concurrency: int = 4,
        delay_between_batches_s: float = 0.0,
        max_attempts: int = 3,
        retry_backoff_s: float = 0.05,
    ) -> None:
        if batch_size < 1 or max_concurrency < 1 or max_attempts < 1:
            raise ValueError("batch_size, max_concurrency and max_attempts must be >= 1")
        if delay_between_batches_s < 0 or retry_backoff_s < 0:
            raise ValueError("delays must be >= 0")
        self._inner = inner
        self._batch_size = batch_size
        self._max_concurrency = max_concurrency
        self._delay_s = delay_between_batches_s
        self._max_attempts = max_attempts
        self._backoff_s = retry_backoff_s

    @property
    def name(self) -> str:
        """The wrapped embedder's name: batching does not change the vectors."""
        return self._inner.name

    @property
    def dim(self) -> int:
        """The wrapped embedder's dimension."""
        return self._inner.dim

    async def embed(self, texts: Sequence[str]) -> npt.NDArray[np.float32]:
        """Return ``(len(texts), dim)`` rows in input order.

        Raises `EmbeddingError` whose ``failed_indexes`` are exactly the inputs of the slices
        that failed every attempt (other slices still ran to completion).
        """
        if 0 < len(texts) <= self._batch_size and self._delay_s == 0:
            return await self._one_slice(texts)  # a request's query: nothing to pace or split
        out = np.empty((len(texts), self.dim), dtype=np.float32)
        failed: list[int] = []
        limiter = anyio.CapacityLimiter(self._max_concurrency)
        gate = anyio.Lock()
        next_start = [anyio.current_time()]

        async def paced_call(chunk: Sequence[str]) -> npt.NDArray[np.float32]:
            if self._delay_s > 0:
                async with gate:  # one caller at a time claims the next start time
                    wait = next_start[0] - anyio.current_time()
                    if wait > 0:
                        await anyio.sleep(wait)
                    next_start[0] = anyio.current_time() + self._delay_s
            return await self._inner.embed(chunk)

        async def run_slice(start: int, chunk: Sequence[str]) -> None:
            async with limiter:
                vectors, _ = await self._attempts(chunk, paced_call)
            if vectors is None:
                failed.extend(range(start, start + len(chunk)))
            else:
                out[start : start + len(chunk)] = vectors

        async with anyio.create_task_group() as tg:
            for start in range(0, len(texts), self._batch_size):
                tg.start_soon(run_slice, start, texts[start : start + self._batch_size])
        if failed:
            failed.sort()
            raise EmbeddingError(
                f"{len(failed)} of {len(texts)} texts got no vector from {self.name}",
                failed_indexes=failed,
            )
        return out

    async def _one_slice(self, texts: Sequence[str]) -> npt.NDArray[np.float32]:
        """`embed` for one unpaced slice: the same attempts, no task, no copy of the rows."""
        vectors, error = await self._attempts(texts, self._inner.embed)
        if vectors is None:
            raise EmbeddingError(
                f"{len(texts)} of {len(texts)} texts got no vector from {self.name}",
                failed_indexes=list(range(len(texts))),
            ) from error
        return vectors

    async def _attempts(
        self, chunk: Sequence[str], call: _Call
    ) -> tuple[npt.NDArray[np.float32] | None, AgentError | None]:
        """*chunk*'s vectors, or None and the last error if every attempt failed."""
        shape = (len(chunk), self.dim)
        error: AgentError | None = None
        for attempt in range(self._max_attempts):
            if error is not None:
                await anyio.sleep(self._retry_wait(error, attempt))
            try:
                vectors = await call(chunk)
            except AgentError as exc:
                error = exc
                if not _retryable(exc):
                    return None, exc
                continue
            if vectors.shape == shape:
                return vectors, None
            error = EmbeddingError(f"{self.name} returned shape {vectors.shape} for {shape}")
        return None, error

    def _retry_wait(self, error: AgentError, attempt: int) -> float:
        if isinstance(error, RateLimited) and error.retry_after is not None:
            return min(max(error.retry_after, 0.0), _MAX_RETRY_AFTER_S)
        return float(self._backoff_s * 2 ** (attempt - 1))
