"""`FallbackClient`: a primary LLM client with retries, a deadline and a circuit breaker,
backed by a secondary client that answers when the primary cannot.

Timing: the primary (all its attempts) runs under ``timeout_s``, capped by the policy's
``total_deadline_s``; the secondary gets what is left of the total deadline, with its own
retries. For streams these deadlines cover the wait for the first text chunk only; once text
flows, idle timeouts are the provider client's job and a failure raises `StreamInterrupted`.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import TypeVar

import anyio
import msgspec

from agent.base import LLMClient
from agent.breaker import CircuitBreaker, counts_as_failure
from agent.errors import (
    BadRequest,
    CircuitOpen,
    ProviderError,
    RateLimited,
    StreamInterrupted,
    UpstreamTimeout,
)
from agent.retry import Clock, Retrier, RetryPolicy, Sleep
from agent.types import LLMRequest, LLMResponse, StreamChunk

T = TypeVar("T")

logger = logging.getLogger(__name__)

# Closing an abandoned upstream stream must finish even when our caller is cancelled.
_CLOSE_GRACE_S = 5.0


class FallbackClient:
    """An `LLMClient` that tries ``primary`` and falls back to ``secondary``.

    Falls back when the primary's retries run out, its deadline passes or its breaker is
    open; answers from the secondary carry ``used_fallback=True`` and a ``fallback_reason``
    (``primary_timeout``, ``primary_rate_limited``, ``circuit_open``,
    ``primary_error:<code>``). Caller errors (`BadRequest`, `ContextLengthExceeded`) are raised
    as they are: the secondary would refuse the same request. Cancellation is never retried.

    The secondary is asked for ``secondary_model_for(request.model)`` (the first model of
    that model's fallback chain in the registry); when it returns None the model has no
    fallback and the primary's error is raised. ``secondary_model`` is the shorthand for one
    model for every request; with neither, the secondary gets the request unchanged.
    """

    def __init__(
        self,
        primary: LLMClient,
        secondary: LLMClient | None,
        *,
        timeout_s: float,
        secondary_model: str | None = None,
        secondary_model_for: Callable[[str], str | None] | None = None,
        retry: RetryPolicy,
        breaker: CircuitBreaker | None = None,
        name: str = "fallback",
        rng: random.Random | None = None,
        sleep: Sleep = anyio.sleep,
        clock: Clock = time.monotonic,
    ) -> None:
        if timeout_s <= 0:
            raise ValueError("timeout_s: expected a positive number of seconds")
        self.primary = primary
        self.secondary = secondary
        self.breaker = breaker
        self._timeout_s = timeout_s
        if secondary_model is not None and secondary_model_for is not None:
            raise ValueError("give secondary_model or secondary_model_for, not both")
        if secondary_model is not None:
            model = secondary_model
            secondary_model_for = lambda _requested: model  # noqa: E731
        self._secondary_model_for = secondary_model_for
        self._retrier = Retrier(retry, rng=rng, sleep=sleep, clock=clock)
        self._name = name

    @property
    def name(self) -> str:
        return self._name

    async def generate(self, request: LLMRequest) -> LLMResponse:
        """Return the primary's answer, or the secondary's when the primary fails.

        Raises the primary's error when there is no secondary or the request itself is at
        fault; when both fail, the secondary's error, chained to the primary's.
        """
        plan = self._plan()
        try:
            return await self._run_primary(lambda: self.primary.generate(request), plan)
        except ProviderError as exc:
            secondary, secondary_request = self._secondary_for(exc, request)
            primary_error = exc
        reason = fallback_reason(primary_error)
        self._log_fallback(reason, primary_error)
        response = await self._run_secondary(
            secondary,
            lambda: secondary.generate(secondary_request),
            plan,
            primary_error,
            reason,
        )
        return msgspec.structs.replace(response, used_fallback=True, fallback_reason=reason)

    async def stream(self, request: LLMRequest) -> AsyncIterator[StreamChunk]:
        """Yield the primary's chunks, or the secondary's when the primary fails first.

        Retries and fallback happen only before the first text chunk reaches the caller;
        after that a failure raises `StreamInterrupted` with the provider's error as cause.
        """
        plan = self._plan()
        client: LLMClient = self.primary
        reason: str | None = None
        try:
            opened = await self._run_primary(lambda: _open_stream(self.primary, request), plan)
        except ProviderError as exc:
            secondary, secondary_request = self._secondary_for(exc, request)
            client, reason = secondary, fallback_reason(exc)
            self._log_fallback(reason, exc)
            opened = await self._run_secondary(
                secondary, lambda: _open_stream(secondary, secondary_request), plan, exc, reason
            )
        try:
            for chunk in opened.head:
                yield _mark(chunk, reason)
            async for chunk in opened.iterator:
                yield _mark(chunk, reason)
        except ProviderError as exc:
            if client is self.primary and self.breaker is not None and counts_as_failure(exc):
                self.breaker.record_failure()
            raise StreamInterrupted(
                f"{client.name} stream failed after the first token: {exc}",
                provider=client.name,
                cause=exc,
            ) from exc
        finally:
            await _close(opened.iterator)

    def _plan(self) -> _Plan:
        now = self._retrier.clock()
        total = now + self._retrier.policy.total_deadline_s
        return _Plan(primary_deadline=min(now + self._timeout_s, total), total_deadline=total)

    async def _run_primary(self, call: Callable[[], Awaitable[T]], plan: _Plan) -> T:
        async def guarded() -> T:
            if self.breaker is None:
                return await call()
            with self.breaker.guard():
                return await call()

        with anyio.move_on_after(self._remaining(plan.primary_deadline)):
            return await self._retrier.run(guarded, deadline=plan.primary_deadline)
        # Only our own deadline lands here: a caller's cancellation propagates through.
        if self.breaker is not None:
            self.breaker.record_failure()
        raise UpstreamTimeout(
            f"{self.primary.name} gave no answer within {self._timeout_s:g}s",
            provider=self.primary.name,
        )

    async def _run_secondary(
        self,
        secondary: LLMClient,
        call: Callable[[], Awaitable[T]],
        plan: _Plan,
        primary_error: ProviderError,
        reason: str,
    ) -> T:
        try:
            with anyio.move_on_after(self._remaining(plan.total_deadline)):
                return await self._retrier.run(call, deadline=plan.total_deadline)
            raise UpstreamTimeout(
                f"{secondary.name} gave no answer before the total deadline",
                provider=secondary.name,
            )
        except ProviderError as exc:
            message = exc.args[0] if exc.args else str(exc)
            exc.args = (
                f"primary {self.primary.name} failed ({reason}: {primary_error}), "
                f"then secondary {secondary.name} failed: {message}",
            )
            raise exc from primary_error

    def _secondary_for(
        self, primary_error: ProviderError, request: LLMRequest
    ) -> tuple[LLMClient, LLMRequest]:
        # Re-raise (inside the caller's except block) when falling back cannot help.
        if self.secondary is None or isinstance(primary_error, BadRequest):
            raise primary_error
        if self._secondary_model_for is None:
            return self.secondary, request
        model = self._secondary_model_for(request.model)
        if model is None:
            raise primary_error
        return self.secondary, msgspec.structs.replace(request, model=model)

    def _remaining(self, deadline: float) -> float:
        return max(0.0, deadline - self._retrier.clock())

    def _log_fallback(self, reason: str, error: ProviderError) -> None:
        secondary = self.secondary.name if self.secondary is not None else "-"
        logger.warning(
            "falling back from %s to %s: %s (%s)", self.primary.name, secondary, reason, error
        )


def fallback_reason(error: ProviderError) -> str:
    """A short machine-readable label for why the primary was given up on."""
    if isinstance(error, CircuitOpen):
        return "circuit_open"
    if isinstance(error, UpstreamTimeout):
        return "primary_timeout"
    if isinstance(error, RateLimited):
        return "primary_rate_limited"
    return f"primary_error:{error.code}"


@dataclass(frozen=True, slots=True)
class _Plan:
    primary_deadline: float
    total_deadline: float


@dataclass(slots=True)
class _OpenedStream:
    """A provider stream pulled up to (and including) its first text chunk."""

    iterator: AsyncIterator[StreamChunk]
    head: list[StreamChunk] = field(default_factory=list)


def _mark(chunk: StreamChunk, reason: str | None) -> StreamChunk:
    if reason is None:
        return chunk
    return msgspec.structs.replace(chunk, used_fallback=True, fallback_reason=reason)


async def _open_stream(client: LLMClient, request: LLMRequest) -> _OpenedStream:
    # Pull until the first text chunk so that failures before it can still be retried or
    # handed to the secondary: nothing has reached the caller yet.
    opened = _OpenedStream(aiter(client.stream(request)))
    try:
        async for chunk in opened.iterator:
            opened.head.append(chunk)
            if chunk.text:
                break
    except BaseException:
        await _close(opened.iterator)
        raise
    return opened


async def _close(iterator: AsyncIterator[StreamChunk]) -> None:
    aclose = getattr(iterator, "aclose", None)
    if aclose is not None:
        with anyio.move_on_after(_CLOSE_GRACE_S, shield=True):
            await aclose()
