"""`FailedAuthLimiter`: slows down key guessing by counting failed authentications per address.

In-process and per replica: N replicas behind a balancer let an address fail up to N times the
configured number per minute. That is enough to make guessing a 32-byte key hopeless; a
shared counter would put a Redis round trip on every unauthenticated request.
"""

from __future__ import annotations

import math
import time
from collections import deque
from collections.abc import Callable

from server.errors import APIError

WINDOW_S = 60.0
MAX_ADDRESSES = 10_000


class FailedAuthLimiter:
    """At most ``max_per_minute`` failed attempts per client address in any 60 s."""

    def __init__(self, max_per_minute: int, *, clock: Callable[[], float] = time.monotonic) -> None:
        self._max = max_per_minute
        self._clock = clock
        self._failures: dict[str, deque[float]] = {}

    def check(self, address: str) -> None:
        """Raise `APIError` ``rate_limited`` (429 with ``Retry-After``) when ``address`` has
        used up its failures; otherwise return."""
        failures = self._recent(address)
        if failures is not None and len(failures) >= self._max:
            retry_after = max(1, math.ceil(failures[0] + WINDOW_S - self._clock()))
            raise APIError(
                "rate_limited",
                "too many failed authentication attempts from this address; retry later",
                headers={"Retry-After": str(retry_after)},
            )

    def record(self, address: str) -> None:
        """Count one failed attempt from ``address``."""
        failures = self._recent(address)
        if failures is None:
            if len(self._failures) >= MAX_ADDRESSES:  # bounded memory under a spray of sources
                self._failures.pop(next(iter(self._failures)))
            failures = self._failures[address] = deque()
        failures.append(self._clock())

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
