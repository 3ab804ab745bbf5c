"""Micro-batching: concurrent small calls to a blocking batch function share one call.

While batches run in worker threads, new requests queue up; when a slot frees, the queue goes
out as the next batch (at most ``max_batch`` items, and split evenly across the slots that are
idle at that moment, so a burst uses every core). Under load one forward pass serves dozens of
callers for little more than the price of one; at rest a lone request goes out at once (plus
the optional ``linger_s``). A request's items always stay together in one batch.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Callable, Sequence
from types import TracebackType
from typing import Generic, Self, TypeVar

import anyio
import anyio.abc
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream

T = TypeVar("T")
R = TypeVar("R")


class BatcherClosed(RuntimeError):
    """The batcher is not running (never entered, or shut down while the request waited)."""


class BatchFailed(RuntimeError):
    """The batch holding this request raised; ``__cause__`` is the batch function's error."""


class _Request(Generic[T, R]):
    __slots__ = ("abandoned", "done", "error", "items", "results")

    def __init__(self, items: Sequence[T]) -> None:
        self.items = items
        self.done = anyio.Event()
        self.results: list[R] = []
        self.error: BaseException | None = None
        self.abandoned = False

    def finish(self, results: list[R] | None = None, error: BaseException | None = None) -> None:
        if self.done.is_set():
            return
        self.results = results or []
        self.error = error
        self.done.set()


class MicroBatcher(Generic[T, R]):
    """Runs ``batch_fn(items) -> results`` (one result per item, same order) in worker threads.

    Use as ``async with MicroBatcher(fn) as batcher: await batcher.run(items)``. At most
    ``max_concurrent`` batches run at once, each in a thread taken through *limiter* (shared
    with other CPU work if given, else its own of size ``max_concurrent``).
    """

    def __init__(
        self,
        batch_fn: Callable[[list[T]], Sequence[R]],
        *,
        max_batch: int = 64,
        max_concurrent: int = 1,
        linger_s: float = 0.0,
        limiter: anyio.CapacityLimiter | None = None,
    ) -> None:
        if max_batch < 1 or max_concurrent < 1 or linger_s < 0:
            raise ValueError("max_batch and max_concurrent must be >= 1, linger_s >= 0")
        self._fn = batch_fn
        self._max_batch = max_batch
        self._linger_s = linger_s
        self._slots = anyio.Semaphore(max_concurrent)
        self._limiter = limiter or anyio.CapacityLimiter(max_concurrent)
        self._send: MemoryObjectSendStream[_Request[T, R]] | None = None
        self._receive: MemoryObjectReceiveStream[_Request[T, R]] | None = None
        self._tg: anyio.abc.TaskGroup | None = None
        self._backlog: deque[_Request[T, R]] = deque()
        self.batches_run = 0
        """How many times ``batch_fn`` has been called; tests and metrics read it."""

    async def __aenter__(self) -> Self:
        self._send, self._receive = anyio.create_memory_object_stream[_Request[T, R]](math.inf)
        self._tg = anyio.create_task_group()
        await self._tg.__aenter__()
        self._tg.start_soon(self._worker)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> bool | None:
        assert self._tg is not None and self._send is not None and self._receive is not None
        self._send.close()
        self._tg.cancel_scope.cancel()
        try:
            return await self._tg.__aexit__(exc_type, exc, tb)
        finally:
            stranded = list(self._backlog)
            self._backlog.clear()
            while True:
                try:
                    stranded.append(self._receive.receive_nowait())
                except (anyio.WouldBlock, anyio.EndOfStream):
                    break
            for request in stranded:
                request.finish(error=BatcherClosed("micro-batcher shut down before this ran"))
            self._receive.close()
            self._send = self._receive = self._tg = None

    async def run(self, items: Sequence[T]) -> list[R]:
        """Return ``batch_fn``'s results for *items*, computed in a batch with other callers.

        Raises `BatchFailed` (cause attached) if the batch raised, `BatcherClosed` if the
        batcher is not running. Cancelling the caller only drops its request.
        """
        if not items:
            return []
        if self._send is None:
            raise BatcherClosed("micro-batcher is not running; use it as an async context")
        request: _Request[T, R] = _Request(items)
        try:
            self._send.send_nowait(request)
        except (anyio.ClosedResourceError, anyio.BrokenResourceError) as exc:
            raise BatcherClosed("micro-batcher is shutting down") from exc
        try:
            await request.done.wait()
        finally:
            # Cancelled while queued: tell the worker not to compute it.
            request.abandoned = not request.done.is_set()
        if request.error is not None:
            raise request.error
        return request.results

    async def _worker(self) -> None:
        assert self._tg is not None
        while True:
            await self._slots.acquire()
            try:
                batch = await self._next_batch()
            except anyio.EndOfStream:
                self._slots.release()
                return
            self._tg.start_soon(self._run_batch, batch)

    async def _next_batch(self) -> list[_Request[T, R]]:
        assert self._receive is not None
        backlog = self._backlog
        while True:
            if not backlog:
                backlog.append(await self._receive.receive())
                if self._linger_s > 0 and len(backlog[0].items) < self._max_batch:
                    await anyio.sleep(self._linger_s)
            while True:  # move everything queued so far into the backlog
                try:
                    backlog.append(self._receive.receive_nowait())
                except (anyio.WouldBlock, anyio.EndOfStream):
                    break
            live = [r for r in backlog if not r.abandoned]  # their callers were cancelled
            backlog.clear()
            backlog.extend(live)
            if backlog:
                break
        # Share the backlog among this slot and the other idle ones: 32 waiting callers and two
        # idle cores make two batches of 16, done in half the time of one batch of 32.
        waiting = sum(len(r.items) for r in backlog)
        limit = min(self._max_batch, -(-waiting // (1 + self._slots.value)))
        first = backlog.popleft()
        batch, size = [first], len(first.items)
        # A request's items stay together: the first goes whole, the rest only if they fit.
        while backlog and size + len(backlog[0].items) <= limit:
            size += len(backlog[0].items)
            batch.append(backlog.popleft())
        return batch

    async def _run_batch(self, batch: list[_Request[T, R]]) -> None:
        try:
            live = [r for r in batch if not r.abandoned]
            if not live:
                return
            items = [item for r in live for item in r.items]
            self.batches_run += 1
            try:
                results = await anyio.to_thread.run_sync(self._fn, items, limiter=self._limiter)
                if len(results) != len(items):
                    raise ValueError(f"batch function gave {len(results)} results for {len(items)}")
            except Exception as exc:
                for r in live:
                    failed = BatchFailed(f"batch of {len(items)} items failed: {exc!r}")
                    failed.__cause__ = exc
                    r.finish(error=failed)
                return
            start = 0
            for r in live:
                r.finish(results=list(results[start : start + len(r.items)]))
                start += len(r.items)
        finally:
            for r in batch:
                if not r.done.is_set():
                    r.finish(error=BatcherClosed("micro-batcher shut down while this batch ran"))
            self._slots.release()
