"""BatchEmbedder: order, bounded concurrency, pacing, per-batch retries, failed indexes."""

from __future__ import annotations

from collections.abc import Sequence

import anyio
import numpy as np
import numpy.typing as npt
import pytest

from agent.base import Embedder
from agent.embedders import BatchEmbedder
from agent.errors import AuthError, EmbeddingError, RateLimited, UpstreamError


class CountingEmbedder:
    """Row for ``"t<i>"`` is ``[i, len(batch), 0]``; scripted failures per first index."""

    name = "counting"
    dim = 3

    def __init__(self, *, latency_s: float = 0.0) -> None:
        self.latency_s = latency_s
        self.calls: list[list[str]] = []
        self.started_at: list[float] = []
        self.failures: dict[str, list[Exception]] = {}  # first text -> errors to raise, in turn
        self.in_flight = 0
        self.max_in_flight = 0
        self.wrong_shape_for: set[str] = set()

    async def embed(self, texts: Sequence[str]) -> npt.NDArray[np.float32]:
        self.calls.append(list(texts))
        self.started_at.append(anyio.current_time())
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            # Later batches answer sooner, so completion order is the reverse of input order.
            await anyio.sleep(self.latency_s / (1 + int(texts[0][1:]) / 100))
        finally:
            self.in_flight -= 1
        pending = self.failures.get(texts[0])
        if pending:
            raise pending.pop(0)
        rows = [[float(t[1:]), float(len(texts)), 0.0] for t in texts]
        if texts[0] in self.wrong_shape_for:
            rows = rows[:-1]
        return np.asarray(rows, dtype=np.float32)


def _texts(n: int) -> list[str]:
    return [f"t{i}" for i in range(n)]


def _calls_starting_with(inner: CountingEmbedder, first: str) -> int:
    return sum(1 for call in inner.calls if call[0] == first)


@pytest.mark.anyio
async def test_output_order_is_input_order_whatever_finishes_first() -> None:
    inner = CountingEmbedder(latency_s=0.03)
    batcher = BatchEmbedder(inner, batch_size=100, max_concurrency=4)
    assert isinstance(batcher, Embedder)
    assert (batcher.name, batcher.dim) == ("counting", 3)
    vectors = await batcher.embed(_texts(250))
    assert vectors.shape == (250, 3) and vectors.dtype == np.float32
    assert vectors[:, 0].tolist() == list(range(250))
    assert [len(c) for c in inner.calls] == [100, 100, 50]
    assert vectors[249, 1] == 50


@pytest.mark.anyio
async def test_concurrency_is_bounded() -> None:
    inner = CountingEmbedder(latency_s=0.02)
    await BatchEmbedder(inner, batch_size=10, max_concurrency=3).embed(_texts(100))
    assert len(inner.calls) == 10
    assert inner.max_in_flight == 3


@pytest.mark.anyio
async def test_only_the_failed_batch_is_retried() -> None:
    inner = CountingEmbedder()
    inner.failures["t100"] = [UpstreamError("blip"), RateLimited("slow down", retry_after=0.0)]
    vectors = await BatchEmbedder(inner, batch_size=100, max_attempts=3).embed(_texts(300))
    assert vectors[:, 0].tolist() == list(range(300))
    assert _calls_starting_with(inner, "t100") == 3
    assert _calls_starting_with(inner, "t0") == 1
    assert _calls_starting_with(inner, "t200") == 1


@pytest.mark.anyio
async def test_batch_failing_every_attempt_reports_exactly_its_indexes() -> None:
    inner = CountingEmbedder()
    inner.failures["t200"] = [EmbeddingError("down")] * 5
    embedder = BatchEmbedder(inner, batch_size=100, max_attempts=3, retry_backoff_s=0.001)
    with pytest.raises(EmbeddingError) as info:
        await embedder.embed(_texts(250))
    assert info.value.failed_indexes == list(range(200, 250))
    assert _calls_starting_with(inner, "t200") == 3
    assert _calls_starting_with(inner, "t0") == _calls_starting_with(inner, "t100") == 1


@pytest.mark.anyio
async def test_non_retryable_errors_and_bad_shapes() -> None:
    inner = CountingEmbedder()
    inner.failures["t0"] = [AuthError("bad key")]
    inner.wrong_shape_for.add("t4")
    embedder = BatchEmbedder(inner, batch_size=2, max_attempts=2, retry_backoff_s=0.001)
    with pytest.raises(EmbeddingError) as info:
        await embedder.embed(_texts(6))
    assert info.value.failed_indexes == [0, 1, 4, 5]
    assert _calls_starting_with(inner, "t0") == 1  # auth failures are not retried
    assert _calls_starting_with(inner, "t4") == 2  # a wrong-shaped answer is


@pytest.mark.anyio
async def test_an_embedder_that_says_retrying_cannot_help_is_asked_once() -> None:
    inner = CountingEmbedder()
    inner.failures["t0"] = [EmbeddingError("helper restarting", retryable=False)]
    embedder = BatchEmbedder(inner, batch_size=10, max_attempts=3, retry_backoff_s=0.001)
    with pytest.raises(EmbeddingError) as info:
        await embedder.embed(_texts(2))  # one slice: the query path
    assert info.value.failed_indexes == [0, 1]
    assert _calls_starting_with(inner, "t0") == 1


@pytest.mark.anyio
async def test_delay_spaces_out_batch_starts() -> None:
    inner = CountingEmbedder()
    embedder = BatchEmbedder(inner, batch_size=5, max_concurrency=4, delay_between_batches_s=0.05)
    started = anyio.current_time()
    vectors = await embedder.embed(_texts(20))
    assert vectors[:, 0].tolist() == list(range(20))
    gaps = np.diff(sorted(inner.started_at))
    assert len(gaps) == 3 and gaps.min() >= 0.045
    assert anyio.current_time() - started >= 0.14


@pytest.mark.anyio
async def test_empty_input_makes_no_calls() -> None:
    inner = CountingEmbedder()
    assert (await BatchEmbedder(inner).embed([])).shape == (0, 3)
    assert inner.calls == []


def test_rejects_nonsense_settings() -> None:
    with pytest.raises(ValueError):
        BatchEmbedder(CountingEmbedder(), batch_size=0)
    with pytest.raises(ValueError):
        BatchEmbedder(CountingEmbedder(), delay_between_batches_s=-1)
