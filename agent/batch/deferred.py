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
import msgspec

from agent.batch.lines import Line, failed
from agent.batch.provider_wire import caller_answer
from agent.batch.wire import LineResult
from agent.core import CompletionCore, CompletionRequest, RunOutcome, Tail
from agent.errors import AgentError, BudgetExceeded, InvalidRequest, ProviderError

log = logging.getLogger("frugal.batch")
_decoder = msgspec.json.Decoder()

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

    def provider_for(self, line: Line) -> str:
        """The provider whose concurrency ``line`` counts against (``auto`` when routed)."""
        model = line.body.get("model")
        try:
            return self._provider_of(model) if isinstance(model, str) else "unknown"
        except AgentError:
            return "unknown"

    async def answer(self, batch_id: str, tenant: str, line: Line) -> LineResult:
        """The line's final result after up to ``max_attempts`` tries (in process)."""
        for attempt in range(1, self._retry.max_attempts + 1):
            last = attempt == self._retry.max_attempts
            result = await self.attempt(batch_id, tenant, line, last=last)
            if result is not None:
                return result
            await anyio.sleep(self._retry.delay(attempt))
        raise AssertionError("unreachable: the last attempt returns a result")

    async def attempt(
        self, batch_id: str, tenant: str, line: Line, *, last: bool
    ) -> LineResult | None:
        """One try: the line's final result, or None when it failed in a way worth trying
        again and this is not the ``last`` try. Never raises for the line's own failure."""
        try:
            request = line.request(tenant)
            async with self._limiter(request.model):
                return await self._once(request, line)
        except ProviderError as exc:
            if exc.retryable and not last:
                log.info("deferred line %s failed, will retry: %s", line.custom_id, exc)
                return None
            return await self._dead(batch_id, line, exc)
        except BudgetExceeded as exc:
            return failed(line.custom_id, exc.code, str(exc), status_code=429, source="deferred")
        except AgentError as exc:
            return await self._dead(batch_id, line, exc)

    async def _once(self, request: CompletionRequest, line: Line) -> LineResult:
        outcome = RunOutcome()
        tail: Tail | None = None
        async with aclosing(self._core.run(request, outcome)) as events:
            async for event in events:
                if isinstance(event, Tail):
                    tail = event
        if tail is None:
            raise AssertionError("the core ended a run without its tail")
        interactive = tail.cost_usd_micros + tail.saved_usd_micros
        native = _decoder.decode(tail.native) if tail.native is not None else None
        return LineResult(
            line.custom_id,
            "completed",
            "cache" if tail.cache_write == "skipped:hit" else "deferred",
            200,
            caller_answer(tail.completion, line.protocol, native=native),
            model=tail.model,
            cost_usd_micros=tail.cost_usd_micros,
            interactive_usd_micros=interactive,
        )

    async def _dead(self, batch_id: str, line: Line, exc: AgentError) -> LineResult:
        status = getattr(exc, "status", None) or (400 if isinstance(exc, InvalidRequest) else 502)
        result = failed(
            line.custom_id, exc.code, str(exc), status_code=int(status), source="deferred"
        )
        if self._dead_letter is not None:
            await self._dead_letter(batch_id, result)
        return result
