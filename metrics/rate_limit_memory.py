"""`MemoryRateLimiter`: exact sliding-window limits for one process.

Each subject keeps a log of what it was charged (admitted requests and adjusted tokens) with
running totals, so a check costs amortised O(1): every entry is appended once and expired
once. Memory is one entry per admission or adjustment in the last window; subjects idle for a
whole window are dropped by a sweep that runs at most once per window.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable

from metrics.rate_limit import Dimension, RateDecision, RateLimits, window_states


class _Log:
    """One subject's charges in the current window: (time, tokens, counts as a request)."""

    __slots__ = ("entries", "requests", "tokens")

    def __init__(self) -> None:
        self.entries: deque[tuple[float, int, bool]] = deque()
        self.requests = 0
        self.tokens = 0

    def add(self, at: float, tokens: int, request: bool) -> None:
        self.entries.append((at, tokens, request))
        self.requests += request
        self.tokens += tokens

    def expire(self, cutoff: float) -> None:
        # An entry made at t stops counting at t + window, i.e. once t <= now - window.
        entries = self.entries
        while entries and entries[0][0] <= cutoff:
            _, tokens, request = entries.popleft()
            self.requests -= request
            self.tokens -= tokens

    def idle_since(self, cutoff: float) -> bool:
        return not self.entries or self.entries[-1][0] <= cutoff

    def newest(self, *, request: bool) -> float | None:
        for at, tokens, is_request in reversed(self.entries):
            if is_request if request else tokens > 0:
                return at
        return None

    def freed_at(self, need: int, *, request: bool) -> float:
        """When ``need`` requests (or tokens) will have left the window: an entry's time."""
        freed = 0
        for at, tokens, is_request in self.entries:
            freed += is_request if request else tokens
            if freed >= need:
                return at
        raise AssertionError("need exceeds what the window holds")


class MemoryRateLimiter:
    """A `metrics.rate_limit.RateLimiter` held in this process (the default without Redis).

    ``clock`` is any monotonic clock in seconds (`agent.testing.ManualClock` in tests). With
    N replicas each enforces its own limits, so together they admit up to N times as much.
    """

    def __init__(self, limits: RateLimits, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.limits = limits
        self._clock = clock
        self._logs: dict[str, _Log] = {}
        self._last_sweep = clock()

    @property
    def tracked_subjects(self) -> int:
        """How many subjects hold state (idle ones are dropped within about two windows)."""
        return len(self._logs)

    async def check(self, subject: str, tokens: int = 0) -> RateDecision:
        """Admit one request of ``tokens`` estimated tokens, or refuse it (see the protocol)."""
        if tokens < 0:
            raise ValueError("tokens: expected zero or more")
        limits = self.limits
        now = self._clock()
        log = self._log(subject, now)
        waits: dict[Dimension, float | None] = {}
        if limits.requests is not None and log.requests + 1 > limits.requests:
            at = log.freed_at(log.requests + 1 - limits.requests, request=True)
            waits["requests"] = at + limits.window_s - now
        if limits.tokens is not None and log.tokens + tokens > limits.tokens:
            if tokens > limits.tokens:
                waits["tokens"] = None
            else:
                at = log.freed_at(log.tokens + tokens - limits.tokens, request=False)
                waits["tokens"] = at + limits.window_s - now
        if not waits:
            log.add(now, tokens, True)
        which, retry_after = _binding(waits)
        requests, token_state = window_states(
            limits,
            requests_counted=log.requests,
            tokens_counted=log.tokens,
            requests_reset_s=self._reset(log, now, request=True),
            tokens_reset_s=self._reset(log, now, request=False),
        )
        return RateDecision(
            allowed=not waits,
            requests=requests,
            tokens=token_state,
            retry_after_s=retry_after,
            which=which,
        )

    async def adjust(self, subject: str, extra_tokens: int) -> None:
        """Count ``extra_tokens`` more for ``subject`` from now on (see the protocol)."""
        if extra_tokens < 0:
            raise ValueError("extra_tokens: expected zero or more")
        if extra_tokens == 0 or self.limits.tokens is None:
            return
        now = self._clock()
        self._log(subject, now).add(now, extra_tokens, False)

    def _log(self, subject: str, now: float) -> _Log:
        window = self.limits.window_s
        if now - self._last_sweep >= window:
            self._sweep(now - window)
            self._last_sweep = now
        log = self._logs.get(subject)
        if log is None:
            log = self._logs[subject] = _Log()
        log.expire(now - window)
        return log

    def _sweep(self, cutoff: float) -> None:
        idle = [s for s, log in self._logs.items() if log.idle_since(cutoff)]
        for subject in idle:
            del self._logs[subject]

    def _reset(self, log: _Log, now: float, *, request: bool) -> float:
        newest = log.newest(request=request)
        return 0.0 if newest is None else newest + self.limits.window_s - now


def _binding(waits: dict[Dimension, float | None]) -> tuple[Dimension | None, float | None]:
    """The limit that holds a refused request back longest, and for how long."""
    if not waits:
        return None, None
    for dimension, wait in waits.items():
        if wait is None:
            return dimension, None
    which = max(waits, key=lambda d: waits[d] or 0.0)
    return which, waits[which]
