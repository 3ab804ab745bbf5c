"""`EventPrefetch`: the pipeline runs ahead of the reader, bounded, and stops with it."""

from __future__ import annotations

from collections.abc import AsyncGenerator

import anyio
import pytest

from agent.pipeline.response import StreamEvent, Token
from server.event_prefetch import EventPrefetch

pytestmark = pytest.mark.anyio


class Pipeline:
    """A stand-in pipeline stream that records how far it was pulled and how it ended."""

    def __init__(self, count: int, *, fail_after: int | None = None) -> None:
        self.count = count
        self.fail_after = fail_after
        self.produced = 0
        self.closed = False
        self.pulled_past_end = anyio.Event()

    async def events(self) -> AsyncGenerator[StreamEvent, None]:
        try:
            for i in range(self.count):
                if i == self.fail_after:
                    raise RuntimeError("provider parser bug")
                self.produced += 1
                yield Token(f"t{i}")
            self.pulled_past_end.set()
            await anyio.sleep_forever()  # a provider that never sends its last chunk
            yield Token("never")
        finally:
            self.closed = True


async def test_the_pump_pulls_events_before_the_reader_asks_for_them() -> None:
    pipeline = Pipeline(3)
    prefetch = EventPrefetch(pipeline.events(), buffer=8)
    async with anyio.create_task_group() as group:
        group.start_soon(prefetch.pump)
        with anyio.fail_after(5):
            await pipeline.pulled_past_end.wait()
        assert pipeline.produced == 3  # all three produced while nobody read
        got = [await anext(prefetch) for _ in range(3)]
        assert [e.text for e in got if isinstance(e, Token)] == ["t0", "t1", "t2"]
        group.cancel_scope.cancel()  # the response ends: a pump waiting on the provider stops
    assert pipeline.closed
    prefetch.close()


async def test_a_full_buffer_holds_the_pipeline_back() -> None:
    pipeline = Pipeline(10)
    prefetch = EventPrefetch(pipeline.events(), buffer=2)
    async with anyio.create_task_group() as group:
        group.start_soon(prefetch.pump)
        for _ in range(20):  # let the pump run as far as it can
            await anyio.lowlevel.checkpoint()
        assert pipeline.produced == 3  # two queued, the third waiting for room
        assert (await anext(prefetch)) == Token("t0")
        group.cancel_scope.cancel()
    prefetch.close()
    await pipeline_close(prefetch)
    assert pipeline.closed


async def test_an_exception_reaches_the_reader_after_the_events_before_it() -> None:
    pipeline = Pipeline(5, fail_after=2)
    prefetch = EventPrefetch(pipeline.events())
    async with anyio.create_task_group() as group:
        group.start_soon(prefetch.pump)
        assert (await anext(prefetch)) == Token("t0")
        assert (await anext(prefetch)) == Token("t1")
        with pytest.raises(RuntimeError, match="provider parser bug"):
            await anext(prefetch)
        with pytest.raises(StopAsyncIteration):
            await anext(prefetch)
    prefetch.close()
    assert pipeline.closed


async def test_closing_the_reader_stops_a_pump_blocked_on_a_full_buffer() -> None:
    pipeline = Pipeline(10)
    prefetch = EventPrefetch(pipeline.events(), buffer=1)
    with anyio.fail_after(5):
        async with anyio.create_task_group() as group:
            group.start_soon(prefetch.pump)
            assert (await anext(prefetch)) == Token("t0")
            await prefetch.aclose()  # the pump must end by itself: the group exits
    assert pipeline.produced < 10
    await pipeline_close(prefetch)
    assert pipeline.closed


async def pipeline_close(prefetch: EventPrefetch) -> None:
    # What PipelineStreamResponse does last: close the generator the pump left suspended.
    await prefetch.events.aclose()
