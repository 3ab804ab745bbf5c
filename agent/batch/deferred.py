"""`DeferredLines`: batch lines for models without a provider batch API, answered one by one
through the completion core (interactive price, the same caches, budget holds and fallback).

At most ``per_provider`` lines of a provider run at once; a retryable failure is tried again
with exponential backoff, up to ``max_attempts``; a line that still fails is written to the
dead letters (with its last error) and ends ``failed``.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from contextlib import aclosing
from dataclasses import dataclass

import anyio

from agent.batch.lines import Line, failed
from agent.batch.wire import LineResult
from agent.core import CompletionCore, RunOutcome, Tail, decode_completion_request
from agent.errors import AgentError, BudgetExceeded, ProviderError

log = logging.getLogger("frugal.batch")

DeadLetter = Callable[[str, LineResult], Awaitable[None]]
"""Records a line that failed for good: (batch id, its failed result)."""


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """``max_attempts`` tries, waiting ``base_s`` doubling up to ``max_s`` in between."""

    max_attempts: int = 3
    base_s: float = 0.5
    max_s: float = 30.0

    def delay(self, attempt: int) -> float:
        """The wait after failed attempt ``attempt`` (1-based)."""
        return float(min(self.base_s * 2 ** (attempt - 1), self.max_s))


class DeferredLines:
    """Answers deferred lines through ``core``, bounded per provider."""

    def __init__(
        self,
        core: CompletionCore,
        *,
        provider_of: Callable[[str], str],
        per_provider: int = 4,
        retry: RetryPolicy = RetryPolicy(),
        dead_letter: DeadLetter | None = None,
    ) -> None:
        self._core = core
        self._provider_of = provider_of
        self._per_provider = per_provider
        self._limiters: dict[str, anyio.CapacityLimiter] = {}
        self._retry = retry
        self._dead_letter = dead_letter

    def _limiter(self, model: str) -> anyio.CapacityLimiter:
        provider = self._provider_of(model)
        limiter = self._limiters.get(provider)
        if limiter is None:
            limiter = self._limiters[provider] = anyio.CapacityLimiter(self._per_provider)
        return limiter

    async def answer(self, batch_id: str, tenant: str, line: Line) -> LineResult:
        """The line's final result (never raises for the line's own failure)."""
        request = decode_completion_request(line.raw, tenant=tenant)
        for attempt in range(1, self._retry.max_attempts + 1):
            try:
                async with self._limiter(request.model):
                    return await self._once(request, line)
            except ProviderError as exc:
                if not exc.retryable or attempt == self._retry.max_attempts:
                    return await self._dead(batch_id, line, exc)
                log.info("deferred line %s: attempt %d failed: %s", line.custom_id, attempt, exc)
                await anyio.sleep(self._retry.delay(attempt))
            except BudgetExceeded as exc:
                return failed(
                    line.custom_id, exc.code, str(exc), status_code=429, source="deferred"
                )
            except AgentError as exc:
                return await self._dead(batch_id, line, exc)
        raise AssertionError("unreachable: the last attempt returns")

    async def _once(self, request: object, line: Line) -> LineResult:
        outcome = RunOutcome()
        tail: Tail | None = None
        async with aclosing(self._core.run(request, outcome)) as events:  # type: ignore[arg-type]
            async for event in events:
                if isinstance(event, Tail):
                    tail = event
        if tail is None:
            raise AssertionError("the core ended a run without its tail")
        interactive = tail.cost_usd_micros + tail.saved_usd_micros
        return LineResult(
            line.custom_id,
            "completed",
            "cache" if tail.cache_write == "skipped:hit" else "deferred",
            200,
            tail.completion,
            model=tail.model,
            cost_usd_micros=tail.cost_usd_micros,
            interactive_usd_micros=interactive,
        )

    async def _dead(self, batch_id: str, line: Line, exc: AgentError) -> LineResult:
        status = getattr(exc, "status", None) or 502
        result = failed(
            line.custom_id, exc.code, str(exc), status_code=int(status), source="deferred"
        )
        if self._dead_letter is not None:
            await self._dead_letter(batch_id, result)
        return result
