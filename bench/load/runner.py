"""Sends a workload to the gateway, closed or open loop, and records what each request did.

Closed loop: ``concurrency`` workers each send the next request as soon as their last one
finished. Open loop: request ``i`` is due at ``i / rate`` seconds whatever the gateway does, so
a slow gateway shows as latency (measured from the due time) instead of a lower send rate.
Either way the turns of one session go out in file order, one at a time, and the run ends
after ``requests`` requests, after ``duration_s`` (in-flight requests are then finished), or,
whatever happens, after ``max_time_s``.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import dataclass
from typing import Any

import anyio
import msgspec
from anyio.abc import TaskGroup

from bench.load.client import Client, Endpoint, Turn, http_session
from bench.load.report import LoadRecord
from bench.load.workload import WorkloadItem

_Send = Callable[[Turn, float], Coroutine[Any, Any, None]]
DEFAULT_BASE_URL = "http://127.0.0.1:8000"
# Open loop: connections beyond this wait in the client; that wait counts as latency anyway.
OPEN_LOOP_CONNECTIONS = 1000
_RATE_WINDOW_S = 5.0


class LoadOptions(msgspec.Struct, frozen=True, kw_only=True):
    """One run. ``rate`` (requests/s) selects the open loop; without ``requests`` and
    ``duration_s`` the workload is sent once."""

    base_url: str = DEFAULT_BASE_URL
    endpoint: Endpoint = "chat"
    openai_stream: bool = False
    concurrency: int = 8
    rate: float | None = None
    requests: int | None = None
    duration_s: float | None = None
    request_timeout_s: float = 60.0
    max_time_s: float = 900.0
    api_key: str | None = None

    def __post_init__(self) -> None:
        if self.concurrency < 1:
            raise ValueError("concurrency must be at least 1")
        if self.rate is not None and self.rate <= 0:
            raise ValueError("rate must be positive")
        if self.requests is not None and self.requests < 1:
            raise ValueError("requests must be at least 1")
        if self.duration_s is not None and self.duration_s <= 0:
            raise ValueError("duration must be positive")
        if self.request_timeout_s <= 0 or self.max_time_s <= 0:
            raise ValueError("timeouts must be positive")


class Progress:
    """Live counters of a run, read by the progress line while it runs."""

    def __init__(self, planned: int | None) -> None:
        self.planned = planned
        self.done = 0
        self.errors = 0
        self.hits = 0
        self._recent: deque[float] = deque()

    def add(self, record: LoadRecord) -> None:
        self.done += 1
        self.errors += not record.ok
        self.hits += record.cache is not None
        self._recent.append(time.monotonic())

    def current_rate(self) -> float:
        """Requests finished per second over the last few seconds."""
        horizon = time.monotonic() - _RATE_WINDOW_S
        while self._recent and self._recent[0] < horizon:
            self._recent.popleft()
        return len(self._recent) / _RATE_WINDOW_S

    @property
    def hit_rate(self) -> float:
        answered = self.done - self.errors
        return self.hits / answered if answered else 0.0


@dataclass
class LoadResult:
    """The records of a run, its wall time, start (epoch seconds) and why it stopped."""

    records: list[LoadRecord]
    wall_s: float
    started_at: float
    stopped_by: str


async def run_load(
    items: Sequence[WorkloadItem], options: LoadOptions, progress: Progress | None = None
) -> LoadResult:
    """Run ``items`` against the gateway as ``options`` say; never raises for a failed
    request (it becomes a record with an ``error_code``)."""
    if not items:
        raise ValueError("the workload is empty")
    limit = options.requests
    if limit is None and options.duration_s is None:
        limit = len(items)
    started_at, t0 = time.time(), time.perf_counter()
    deadline = None if options.duration_s is None else t0 + options.duration_s
    planner = _Planner(items, limit, deadline)
    pool = OPEN_LOOP_CONNECTIONS if options.rate is not None else options.concurrency
    records: list[LoadRecord] = []
    async with http_session(pool) as session:
        client = Client(
            session,
            base_url=options.base_url,
            endpoint=options.endpoint,
            t0=t0,
            open_loop=options.rate is not None,
            openai_stream=options.openai_stream,
            request_timeout_s=options.request_timeout_s,
            api_key=options.api_key,
        )

        async def send(turn: Turn, scheduled: float) -> None:
            record = await client.send(turn, scheduled)
            records.append(record)
            if progress is not None:
                progress.add(record)

        with anyio.move_on_after(options.max_time_s) as hard_stop:
            async with anyio.create_task_group() as group:
                if options.rate is None:
                    for _ in range(options.concurrency):
                        group.start_soon(_worker, planner, send)
                else:
                    await _schedule(planner, options.rate, t0, group, send)
    if hard_stop.cancelled_caught:
        stopped_by = "max_time"
    else:
        stopped_by = "duration" if planner.timed_out else "requests"
    return LoadResult(records, time.perf_counter() - t0, started_at, stopped_by)


class _Planner:
    """Hands out requests in workload order, cycling; knows each session's last turn."""

    def __init__(self, items: Sequence[WorkloadItem], limit: int | None, deadline: float | None):
        self._items = items
        self._limit = limit
        self._deadline = deadline
        self._next = 0
        self._last: dict[str, anyio.Event] = {}
        self.timed_out = False

    def next_turn(self, due: float | None = None) -> Turn | None:
        if self._limit is not None and self._next >= self._limit:
            return None
        when = time.perf_counter() if due is None else due
        if self._deadline is not None and when >= self._deadline:
            self.timed_out = True
            return None
        index = self._next
        self._next += 1
        cycle, position = divmod(index, len(self._items))
        item = self._items[position]
        session = item.session
        if session is not None and cycle:
            session = f"{session}~{cycle}"  # each pass over the workload is a new conversation
        turn = Turn(index, item, session, None if session is None else self._last.get(session))
        if session is not None:
            self._last[session] = turn.done
        return turn


async def _worker(planner: _Planner, send: _Send) -> None:
    while (turn := planner.next_turn()) is not None:
        await send(turn, time.perf_counter())


async def _schedule(
    planner: _Planner, rate: float, t0: float, group: TaskGroup, send: _Send
) -> None:
    index = 0
    while True:
        due = t0 + index / rate
        turn = planner.next_turn(due)
        if turn is None:
            return
        await anyio.sleep(max(due - time.perf_counter(), 0.0))
        group.start_soon(send, turn, due)
        index += 1
