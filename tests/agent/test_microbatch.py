"""MicroBatcher: merging concurrent calls, failures per batch, cancellation, shutdown."""

from __future__ import annotations

import threading
from collections.abc import Sequence

import anyio
import pytest

from agent.embedders import BatcherClosed, BatchFailed, MicroBatcher


class GatedDouble:
    """Doubles numbers; the first batch blocks until ``release`` so callers can pile up."""

    def __init__(self) -> None:
        self.batches: list[list[int]] = []
        self.gate = threading.Event()
        self.first_started = threading.Event()

    def __call__(self, items: list[int]) -> list[int]:
        self.batches.append(list(items))
        if len(self.batches) == 1:
            self.first_started.set()
            assert self.gate.wait(10)
        if -1 in items:
            raise ValueError("cannot double -1")
        return [2 * i for i in items]


async def _wait_started(fn: GatedDouble) -> None:
    with anyio.fail_after(5):
        while not fn.first_started.is_set():
            await anyio.sleep(0.001)


@pytest.mark.anyio
async def test_calls_queued_behind_a_running_batch_share_the_next_one() -> None:
    fn = GatedDouble()
    results: dict[int, list[int]] = {}

    async def call(items: Sequence[int]) -> None:
        results[items[0]] = await batcher.run(items)

    async with MicroBatcher(fn, max_batch=64) as batcher, anyio.create_task_group() as tg:
        tg.start_soon(call, [0])
        await _wait_started(fn)
        for i in range(1, 11):
            tg.start_soon(call, [i * 10, i * 10 + 1])
        await anyio.sleep(0.05)
        fn.gate.set()
    assert fn.batches[0] == [0]
    assert len(fn.batches) == 2 and len(fn.batches[1]) == 20
    assert batcher.batches_run == 2
    assert all(results[i * 10] == [i * 20, i * 20 + 2] for i in range(1, 11))


@pytest.mark.anyio
async def test_max_batch_caps_items_and_keeps_each_request_whole() -> None:
    fn = GatedDouble()
    async with MicroBatcher(fn, max_batch=4) as batcher, anyio.create_task_group() as tg:
        tg.start_soon(batcher.run, [0])
        await _wait_started(fn)
        for start in (10, 20, 30):
            tg.start_soon(batcher.run, [start, start + 1, start + 2])
        await anyio.sleep(0.05)
        fn.gate.set()
    assert [len(b) for b in fn.batches] == [1, 3, 3, 3]


@pytest.mark.anyio
async def test_failure_fails_only_its_own_batch() -> None:
    fn = GatedDouble()
    outcomes: dict[str, object] = {}

    async def call(name: str, items: list[int]) -> None:
        try:
            outcomes[name] = await batcher.run(items)
        except BatchFailed as exc:
            outcomes[name] = exc

    async with MicroBatcher(fn) as batcher, anyio.create_task_group() as tg:
        tg.start_soon(call, "first", [1])
        await _wait_started(fn)
        tg.start_soon(call, "bad", [-1])
        tg.start_soon(call, "unlucky", [5])
        await anyio.sleep(0.05)
        fn.gate.set()
    assert outcomes["first"] == [2]
    assert isinstance(outcomes["bad"], BatchFailed)
    assert isinstance(outcomes["unlucky"], BatchFailed)  # same batch as the bad item
    assert isinstance(outcomes["bad"].__cause__, ValueError)
    async with MicroBatcher(fn) as batcher:
        assert await batcher.run([7]) == [14]  # the worker survived


@pytest.mark.anyio
async def test_cancelled_waiter_is_skipped_and_worker_keeps_going() -> None:
    fn = GatedDouble()
    async with MicroBatcher(fn) as batcher:
        async with anyio.create_task_group() as tg:
            tg.start_soon(batcher.run, [1])
            await _wait_started(fn)
            with anyio.move_on_after(0.02) as scope:
                await batcher.run([99])
            assert scope.cancelled_caught
            fn.gate.set()
        assert await batcher.run([3]) == [6]
    assert [99] not in fn.batches and fn.batches == [[1], [3]]


@pytest.mark.anyio
async def test_idle_slots_split_a_burst() -> None:
    fn = GatedDouble()
    async with MicroBatcher(fn, max_concurrent=2) as batcher, anyio.create_task_group() as tg:
        tg.start_soon(batcher.run, [0])
        await _wait_started(fn)
        for i in range(1, 9):
            tg.start_soon(batcher.run, [i])
        await anyio.sleep(0.05)  # one slot busy: the other takes all eight
        fn.gate.set()
    assert sorted(len(b) for b in fn.batches) == [1, 8]

    burst: list[list[int]] = []

    def record(xs: list[int]) -> list[int]:
        burst.append(xs)
        return xs

    async with (
        MicroBatcher(record, max_concurrent=2) as batcher,
        anyio.create_task_group() as tg,
    ):
        for i in range(16):
            tg.start_soon(batcher.run, [i])
    assert sum(len(b) for b in burst) == 16 and max(len(b) for b in burst) <= 8


@pytest.mark.anyio
async def test_requests_outside_the_context_or_at_shutdown_raise_closed() -> None:
    fn = GatedDouble()
    batcher: MicroBatcher[int, int] = MicroBatcher(fn)
    with pytest.raises(BatcherClosed):
        await batcher.run([1])
    errors: list[BaseException] = []

    async def doomed() -> None:
        try:
            await batcher.run([2])
        except BatcherClosed as exc:
            errors.append(exc)

    async with anyio.create_task_group() as tg, batcher:
        tg.start_soon(batcher.run, [1])
        await _wait_started(fn)
        tg.start_soon(doomed)
        await anyio.sleep(0.02)
        fn.gate.set()
    assert len(errors) == 1
