"""`FailedAuthLimiter`: slows down key guessing by counting failed authentications per address.

Each replica counts the failures it sees at once, in process, so one replica alone enforces
the limit exactly. With a shared `FailureLedger` (Redis) the replica also sends its failures
there in the background and reads back which addresses the fleet as a whole has blocked, so N
replicas behind a balancer allow an address the configured number of failures per minute,
not N times it. The request path never waits for Redis: a block decided from another
replica's failures is seen here within one sync (`SYNC_INTERVAL_S`, or at once after a local
failure). While the ledger is unreachable the local count still applies.
"""

from __future__ import annotations

import logging
import math
import time
from collections import Counter, deque
from collections.abc import Callable, Mapping
from typing import Protocol

import anyio

from cache.errors import StoreUnavailable
from server.errors import APIError

WINDOW_S = 60.0
MAX_ADDRESSES = 10_000
SYNC_INTERVAL_S = 0.5
# Under a flood of failures the syncs run back to back at most this often.
MIN_SYNC_GAP_S = 0.05

log = logging.getLogger("frugal.auth")


class FailureLedger(Protocol):
    """Failed authentications per address, shared by every replica."""

    async def exchange(
        self, failures: Mapping[str, int], now: float, *, limit: int, window_s: float
    ) -> dict[str, float]:
        """Add ``failures`` (per address) at ``now`` (epoch seconds); return every address
        with ``limit`` or more failures in the last ``window_s``, with the epoch time its block
        ends (empty: nobody is blocked). Raises `cache.errors.StoreUnavailable`."""
        ...


class FailedAuthLimiter:
    """At most ``max_per_minute`` failed attempts per client address in any 60 s (see the
    module); ``shared`` makes the count fleet-wide."""

    def __init__(
        self,
        max_per_minute: int,
        *,
        clock: Callable[[], float] = time.monotonic,
        shared: FailureLedger | None = None,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        self._max = max_per_minute
        self._clock = clock
        self._failures: dict[str, deque[float]] = {}
        self._shared = shared
        self._wall = wall_clock
        self._unsent: Counter[str] = Counter()
        self._fleet_blocks: dict[str, float] = {}
        self._failed_locally: anyio.Event | None = None  # set by `keep_syncing`

    def check(self, address: str) -> None:
        """Raise `APIError` ``rate_limited`` (429 with ``Retry-After``) when ``address`` has
        used up its failures (here, or across the fleet as last synced); otherwise return."""
        failures = self._recent(address)
        if failures is not None and len(failures) >= self._max:
            raise _limited(failures[0] + WINDOW_S - self._clock())
        until = self._fleet_blocks.get(address)
        if until is not None:
            left = until - self._wall()
            if left > 0:
                raise _limited(left)

    def record(self, address: str) -> None:
        """Count one failed attempt from ``address``."""
        failures = self._recent(address)
        if failures is None:
            if len(self._failures) >= MAX_ADDRESSES:  # bounded memory under a spray of sources
                self._failures.pop(next(iter(self._failures)))
            failures = self._failures[address] = deque()
        failures.append(self._clock())
        if self._shared is not None:
            if address in self._unsent or len(self._unsent) < MAX_ADDRESSES:
                self._unsent[address] += 1
            if self._failed_locally is not None:
                self._failed_locally.set()

    async def sync(self) -> None:
        """Send the failures not yet shared and take the fleet's blocks; while the ledger is
        unreachable keep them for the next try (the local count still applies)."""
        if self._shared is None:
            return
        sending, self._unsent = self._unsent, Counter()
        try:
            blocks = await self._shared.exchange(
                sending, self._wall(), limit=self._max, window_s=WINDOW_S
            )
        except StoreUnavailable as exc:
            for address, count in sending.items():
                if address in self._unsent or len(self._unsent) < MAX_ADDRESSES:
                    self._unsent[address] += count
            log.debug("failed-auth counts not shared: %s", exc)
            return
        self._fleet_blocks = dict(list(blocks.items())[:MAX_ADDRESSES])

    async def keep_syncing(self, interval_s: float = SYNC_INTERVAL_S) -> None:
        """`sync` every ``interval_s``, and soon after a local failure; runs until cancelled."""
        while True:
            await self.sync()
            await anyio.sleep(MIN_SYNC_GAP_S)
            if self._unsent:
                continue
            self._failed_locally = anyio.Event()
            with anyio.move_on_after(interval_s):
                await self._failed_locally.wait()

    def _recent(self, address: str) -> deque[float] | None:
        failures = self._failures.get(address)
        if failures is None:
            return None
        horizon = self._clock() - WINDOW_S
        while failures and failures[0] <= horizon:
            failures.popleft()
        if not failures:
            del self._failures[address]
            return None
        return failures


def _limited(retry_after_s: float) -> APIError:
    return APIError(
        "rate_limited",
        "too many failed authentication attempts from this address; retry later",
        headers={"Retry-After": str(max(1, math.ceil(retry_after_s)))},
    )
