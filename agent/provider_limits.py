"""Outbound rate limits: pace calls to a provider under its RPM / TPM instead of collecting 429s.

`ProviderRateLimiter` holds two token buckets (requests, tokens) for one provider and makes a
caller wait its turn, up to ``max_wait_s``; beyond that it raises `agent.errors.RateLimited`
at once (``status=None``: our own limit, not the provider's answer), so the fallback client can
try elsewhere. `RateLimitedClient` puts one in front of any `LLMClient`.

The buckets live in this process: with N replicas, configure each with 1/N of the provider's
limits (or accept the occasional provider 429, which `RateLimitedClient` then honours for
everyone through `ProviderRateLimiter.hold_off`).
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Awaitable, Callable

import anyio

from agent.base import LLMClient
from agent.errors import RateLimited
from agent.tokens import count_message_tokens
from agent.types import LLMRequest, LLMResponse, StreamChunk

Clock = Callable[[], float]
Sleep = Callable[[float], Awaitable[None]]

# Closing an abandoned upstream stream must finish even when our caller is cancelled.
_CLOSE_GRACE_S = 5.0


class _Bucket:
    """Refills at ``per_minute / 60`` per second up to ``capacity``; may run into debt.

    A take larger than the capacity waits only for a full bucket and leaves a debt that the
    next callers wait out, so big requests are neither starved nor let through for free.
    """

    def __init__(self, per_minute: int, burst_s: float, now: float) -> None:
        self.rate = per_minute / 60.0
        self.capacity = max(1.0, self.rate * burst_s)
        self.level = self.capacity
        self._updated = now

    def level_at(self, now: float) -> float:
        self._refill(now)
        return self.level

    def wait_for(self, amount: float, now: float) -> float:
        self._refill(now)
        return max(0.0, (min(amount, self.capacity) - self.level) / self.rate)

    def take(self, amount: float) -> None:
        self.level -= amount

    def give(self, amount: float, now: float) -> None:
        self._refill(now)
        self.level = min(self.capacity, self.level + amount)

    def _refill(self, now: float) -> None:
        if now > self._updated:
            self.level = min(self.capacity, self.level + (now - self._updated) * self.rate)
            self._updated = now


class ProviderRateLimiter:
    """Paces one provider's calls under ``requests_per_minute`` and ``tokens_per_minute``.

    Either limit may be ``None`` (off). ``burst_s`` sizes the buckets: up to that many seconds'
    worth of calls may go at once (providers enforce per-minute limits over shorter slices, so
    keep it small). Waiters are served in arrival order. Not thread-safe; one event loop.
    """

    def __init__(
        self,
        provider: str,
        *,
        requests_per_minute: int | None = None,
        tokens_per_minute: int | None = None,
        max_wait_s: float = 10.0,
        burst_s: float = 1.0,
        clock: Clock = time.monotonic,
        sleep: Sleep = anyio.sleep,
    ) -> None:
        for name, value in (("requests", requests_per_minute), ("tokens", tokens_per_minute)):
            if value is not None and value < 1:
                raise ValueError(f"{name}_per_minute: expected at least 1 (or None for no limit)")
        if max_wait_s < 0:
            raise ValueError("max_wait_s: expected zero or more seconds")
        if burst_s <= 0:
            raise ValueError("burst_s: expected a positive number of seconds")
        now = clock()
        self.provider = provider
        self.max_wait_s = max_wait_s
        self._clock = clock
        self._sleep = sleep
        self._requests = _Bucket(requests_per_minute, burst_s, now) if requests_per_minute else None
        self._tokens = _Bucket(tokens_per_minute, burst_s, now) if tokens_per_minute else None
        self._hold_until = now

    @property
    def available_tokens(self) -> float | None:
        """Tokens that may be sent now without waiting (negative: debt); ``None`` when off."""
        if self._tokens is None:
            return None
        return self._tokens.level_at(self._clock())

    async def acquire(self, tokens: int) -> None:
        """Wait until one call of ``tokens`` tokens may go, and count it.

        Raises `RateLimited` (``status=None``, ``retry_after`` = the wait it would take) without
        counting anything when that wait exceeds ``max_wait_s``. Cancelled while waiting, the
        call is uncounted again.
        """
        if tokens < 0:
            raise ValueError("tokens: expected zero or more")
        now = self._clock()
        wait = max(0.0, self._hold_until - now)
        if self._requests is not None:
            wait = max(wait, self._requests.wait_for(1, now))
        if self._tokens is not None:
            wait = max(wait, self._tokens.wait_for(tokens, now))
        if wait > self.max_wait_s:
            raise RateLimited(
                f"{self.provider}: its rate limit needs a {wait:.3g}s wait, "
                f"more than the {self.max_wait_s:g}s allowed",
                provider=self.provider,
                status=None,
                retry_after=wait,
            )
        self._charge(1, tokens)
        if wait <= 0:
            return
        try:
            await self._sleep(wait)
        except BaseException:
            self._charge(-1, -tokens)
            raise

    def settle(self, reserved: int, used: int) -> None:
        """Correct a call's token charge from ``reserved`` (the estimate) to ``used``."""
        if self._tokens is not None and reserved != used:
            self._tokens.give(reserved - used, self._clock())

    def hold_off(self, seconds: float) -> None:
        """Make every call wait at least ``seconds`` from now (the provider sent Retry-After)."""
        self._hold_until = max(self._hold_until, self._clock() + max(0.0, seconds))

    def _charge(self, requests: int, tokens: int) -> None:
        now = self._clock()
        for bucket, amount in ((self._requests, requests), (self._tokens, tokens)):
            if bucket is None:
                continue
            if amount >= 0:
                bucket.take(amount)
            else:
                bucket.give(-amount, now)


def estimate_request_tokens(request: LLMRequest, *, default_max_tokens: int = 1024) -> int:
    """What a call may cost against a TPM limit: its prompt plus its completion allowance."""
    prompt = count_message_tokens(request.messages, request.model, system=request.system)
    return prompt + (request.max_tokens if request.max_tokens is not None else default_max_tokens)


class RateLimitedClient:
    """An `LLMClient` that waits for ``limiter`` before every call to ``inner``.

    Each call reserves ``count_tokens(request)`` tokens (by default `estimate_request_tokens`)
    and settles to the provider's reported usage; a call that fails keeps its reservation. A
    provider 429 carrying Retry-After holds off every later call on the same limiter. Raises
    what ``inner`` raises, plus `RateLimited` (``status=None``) when the wait is too long.
    """

    def __init__(
        self,
        inner: LLMClient,
        limiter: ProviderRateLimiter,
        *,
        count_tokens: Callable[[LLMRequest], int] = estimate_request_tokens,
    ) -> None:
        self.inner = inner
        self.limiter = limiter
        self._count_tokens = count_tokens

    @property
    def name(self) -> str:
        return self.inner.name

    async def generate(self, request: LLMRequest) -> LLMResponse:
        """Wait for the limiter, then return ``inner``'s answer."""
        reserved = self._count_tokens(request)
        await self.limiter.acquire(reserved)
        try:
            response = await self.inner.generate(request)
        except RateLimited as exc:
            self._provider_refused(exc)
            raise
        self.limiter.settle(reserved, response.usage.total)
        return response

    async def stream(self, request: LLMRequest) -> AsyncIterator[StreamChunk]:
        """Wait for the limiter, then yield ``inner``'s chunks; closing this closes ``inner``'s."""
        reserved = self._count_tokens(request)
        await self.limiter.acquire(reserved)
        chunks = aiter(self.inner.stream(request))
        used: int | None = None
        try:
            async for chunk in chunks:
                if chunk.usage is not None:
                    used = chunk.usage.total
                yield chunk
        except RateLimited as exc:
            self._provider_refused(exc)
            raise
        finally:
            if used is not None:
                self.limiter.settle(reserved, used)
            aclose = getattr(chunks, "aclose", None)
            if aclose is not None:
                with anyio.move_on_after(_CLOSE_GRACE_S, shield=True):
                    await aclose()

    def _provider_refused(self, exc: RateLimited) -> None:
        # Only the provider's own 429 says anything about its limits; ours has no status.
        if exc.status is not None and exc.retry_after is not None:
            self.limiter.hold_off(exc.retry_after)
