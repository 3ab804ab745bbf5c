"""Retrying one provider call: exponential backoff with full jitter, Retry-After, a deadline.

Only `ProviderError`s marked ``retryable`` (429, 5xx, timeouts, protocol errors) are retried;
caller errors (400, 401/403, context length) and cancellation are raised at once.
"""

from __future__ import annotations

import random
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

import anyio
import msgspec

from agent.errors import ProviderError, RateLimited

T = TypeVar("T")

Sleep = Callable[[float], Awaitable[None]]
Clock = Callable[[], float]

# 2**60 times any sane base delay is far past max_delay_s; the cap keeps the float finite.
_MAX_EXPONENT = 60


class RetryPolicy(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """How often and how patiently to repeat a failed call.

    ``max_attempts`` counts the first call. Before retry *n* (0-based) the wait is
    ``uniform(0, min(max_delay_s, base_delay_s * 2**n))`` unless the provider sent a
    Retry-After. No wait may end past ``total_deadline_s`` after the first attempt began.
    """

    max_attempts: int = 3
    base_delay_s: float = 0.2
    max_delay_s: float = 5.0
    total_deadline_s: float = 60.0

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError("max_attempts: expected at least 1")
        if self.base_delay_s < 0 or self.max_delay_s < 0:
            raise ValueError("base_delay_s, max_delay_s: expected zero or more seconds")
        if self.total_deadline_s <= 0:
            raise ValueError("total_deadline_s: expected a positive number of seconds")

    def backoff_cap(self, retry_index: int) -> float:
        """Upper bound of the jittered wait before retry ``retry_index`` (0 = first retry)."""
        exponent = min(max(retry_index, 0), _MAX_EXPONENT)
        return min(self.max_delay_s, self.base_delay_s * 2.0**exponent)


class Retrier:
    """Runs a call under a `RetryPolicy`, with injectable randomness, sleep and clock.

    Tests pass a seeded ``random.Random`` and a fake clock whose ``sleep`` advances it
    (`agent.testing.ManualClock`), so requested waits are asserted without waiting.
    """

    def __init__(
        self,
        policy: RetryPolicy,
        *,
        rng: random.Random | None = None,
        sleep: Sleep = anyio.sleep,
        clock: Clock = time.monotonic,
    ) -> None:
        self.policy = policy
        self.clock = clock
        self._rng = rng if rng is not None else random.Random()
        self._sleep = sleep

    def delay(self, retry_index: int, error: ProviderError) -> float:
        """Seconds to wait before retry ``retry_index`` after ``error``.

        A Retry-After from a `RateLimited` wins over the jittered backoff (and over
        ``max_delay_s``: the provider knows best when it will take us back).
        """
        if isinstance(error, RateLimited) and error.retry_after is not None:
            return max(0.0, error.retry_after)
        return self._rng.uniform(0.0, self.policy.backoff_cap(retry_index))

    async def run(self, call: Callable[[], Awaitable[T]], *, deadline: float) -> T:
        """Return ``call()``'s result, repeating it on retryable provider errors.

        ``deadline`` is an absolute time on this retrier's clock. Raises the last error when
        attempts run out, when the error is not retryable, or when the next wait would end
        past the deadline (giving up at once beats sleeping into a timeout).
        """
        retry_index = 0
        while True:
            try:
                return await call()
            except ProviderError as exc:
                if not exc.retryable or retry_index + 1 >= self.policy.max_attempts:
                    raise
                wait = self.delay(retry_index, exc)
                if self.clock() + wait > deadline:
                    raise
            # Sleep outside the except block so the old error is not kept alive as context.
            await self._sleep(wait)
            retry_index += 1
