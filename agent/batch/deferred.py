"""`DeferredLines`: batch lines for models without a provider batch API, answered one by one
through the completion core (interactive price, the same caches, budget holds and fallback).

Per provider, at most ``concurrency`` lines run at once and, when the provider has limits,
no more requests and prompt tokens per window than its `QueueLimits` allow: a line the
limit refuses is put off (`Later`) until the window has room, without counting as a try. A
retryable failure is tried again with exponential backoff, up to ``max_attempts``; a line
that still fails is written to the dead letters (with its last error) and ends ``failed``.
A line whose budget hold is refused fails ``budget_exceeded``, or with ``wait_for_budget`` is
put off with backoff (``backoff_s`` doubling up to ``wait_max_s``, never past the refusing
window's reset) until a budget window has room, or the batch expires.

Who waits: the arq queue re-queues a put-off line as a later job (`agent.batch.arq_queue`);
without Redis, `answer_due` keeps the line's next try time in this process.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from contextlib import aclosing
from dataclasses import dataclass
from typing import Literal

import anyio
import msgspec

from agent.batch.lines import Line, failed
from agent.batch.provider_wire import caller_answer
from agent.batch.wire import LineResult
from agent.core import CompletionCore, CompletionRequest, RunOutcome, Tail
from agent.errors import AgentError, BudgetExceeded, InvalidRequest, ProviderError
from agent.tokens import count_message_tokens
from metrics.rate_limit import RateLimiter

log = logging.getLogger("frugal.batch")
_decoder = msgspec.json.Decoder()

DeadLetter = Callable[[str, LineResult], Awaitable[None]]
"""Records a line that failed for good: (batch id, its failed result)."""
WaitNoted = Callable[["WaitReason"], Awaitable[None]]
"""Counts a line put off (for ``/stats``)."""
WaitReason = Literal["retry", "rate_limited", "budget"]
SUBJECT_PREFIX = "batch-deferred:"
"""The rate limiter subject of a provider's deferred lines (apart from callers' subjects)."""


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """``max_attempts`` tries, waiting ``base_s`` doubling up to ``max_s`` in between."""

    max_attempts: int = 3
    base_s: float = 0.5
    max_s: float = 30.0

    def delay(self, attempt: int) -> float:
        """The wait after failed attempt ``attempt`` (1-based)."""
        return float(min(self.base_s * 2 ** (attempt - 1), self.max_s))


@dataclass(frozen=True, slots=True)
class QueueLimits:
    """One provider's deferred lines: ``concurrency`` at once (None: the lane's default) and
    a ``limiter`` counting requests and prompt tokens per window (None: no limit);
    ``counts_tokens`` when the limiter has a token limit (prompts are counted only then)."""

    concurrency: int | None = None
    limiter: RateLimiter | None = None
    counts_tokens: bool = False


@dataclass(frozen=True, slots=True)
class Later:
    """Not answered yet: try the line again in ``delay_s``. ``attempted``: a try failed (it
    counts toward ``max_attempts``); otherwise the line was put off before it was sent
    (``reason``: the provider's rate limit, or the budget)."""

    delay_s: float
    attempted: bool
    reason: WaitReason


@dataclass(slots=True)
class _Waiting:
    not_before: float = 0.0
    attempts: int = 0
    deferrals: int = 0


class DeferredLines:
    """Answers deferred lines through ``core``, bounded and paced per provider."""

    def __init__(
        self,
        core: CompletionCore,
        *,
        provider_of: Callable[[str], str],
        per_provider: int = 4,
        limits: Mapping[str, QueueLimits] | None = None,
        retry: RetryPolicy = RetryPolicy(),
        wait_for_budget: bool = False,
        wait_max_s: float = 60.0,
        dead_letter: DeadLetter | None = None,
        waited: WaitNoted | None = None,
    ) -> None:
        self._core = core
        self._provider_of = provider_of
        self._per_provider = per_provider
        self._limits = dict(limits or {})
        self._limiters: dict[str, anyio.CapacityLimiter] = {}
        self._retry = retry
        self._wait_for_budget = wait_for_budget
        self._wait_max_s = wait_max_s
        self._dead_letter = dead_letter
        self._waited = waited
        self._waiting: dict[tuple[str, str], _Waiting] = {}

    def concurrency(self, provider: str) -> int:
        """How many of ``provider``'s lines may run at once (per process)."""
        limits = self._limits.get(provider)
        return (limits.concurrency if limits else None) or self._per_provider

    def _limiter(self, provider: str) -> anyio.CapacityLimiter:
        limiter = self._limiters.get(provider)
        if limiter is None:
            limiter = self._limiters[provider] = anyio.CapacityLimiter(self.concurrency(provider))
        return limiter

    def provider_for(self, line: Line) -> str:
        """The provider whose limits ``line`` counts against (``auto`` when routed)."""
        model = line.body.get("model")
        try:
            return self._provider_of(model) if isinstance(model, str) else "unknown"
        except AgentError:
            return "unknown"

    def due(self, batch_id: str, custom_id: str) -> bool:
        """Whether an in-process line put off earlier may be tried again now."""
        waiting = self._waiting.get((batch_id, custom_id))
        return waiting is None or time.monotonic() >= waiting.not_before

    def forget(self, batch_id: str) -> None:
        """Drop what this process remembers of ``batch_id``'s put-off lines (it ended)."""
        for key in [key for key in self._waiting if key[0] == batch_id]:
            del self._waiting[key]

    async def answer_due(self, batch_id: str, tenant: str, line: Line) -> LineResult | None:
        """One in-process try of a due line: its final result, or None when it was put off
        (`due` says when it may be tried again)."""
        key = (batch_id, line.custom_id)
        waiting = self._waiting.get(key) or _Waiting()
        outcome = await self.attempt(
            batch_id, tenant, line, attempt=waiting.attempts + 1, deferrals=waiting.deferrals
        )
        if isinstance(outcome, LineResult):
            self._waiting.pop(key, None)
            return outcome
        self._waiting[key] = _Waiting(
            not_before=time.monotonic() + outcome.delay_s,
            attempts=waiting.attempts + outcome.attempted,
            deferrals=waiting.deferrals + (not outcome.attempted),
        )
        return None

    async def attempt(
        self, batch_id: str, tenant: str, line: Line, *, attempt: int = 1, deferrals: int = 0
    ) -> LineResult | Later:
        """One try (the ``attempt``-th; the line was put off ``deferrals`` times before): the
        line's final result, or `Later` when it should be tried again. Never raises for the
        line's own failure."""
        last = attempt >= self._retry.max_attempts
        provider = self.provider_for(line)
        try:
            request = line.request(tenant)
            async with self._limiter(provider):
                wait = await self._admit(provider, request)
                if wait is not None:
                    return await self._later(Later(wait, False, "rate_limited"))
                result, completion_tokens = await self._once(request, line)
            await self._count_answer(provider, completion_tokens)
            return result
        except RequestTooLarge as exc:
            return failed(line.custom_id, "rate_limited", str(exc), status_code=429)
        except ProviderError as exc:
            if exc.retryable and not last:
                log.info("deferred line %s failed, will retry: %s", line.custom_id, exc)
                return await self._later(Later(self._retry.delay(attempt), True, "retry"))
            return await self._dead(batch_id, line, exc)
        except BudgetExceeded as exc:
            if self._wait_for_budget:
                return await self._later(Later(self._budget_wait(exc, deferrals), False, "budget"))
            return failed(line.custom_id, exc.code, str(exc), status_code=429, source="deferred")
        except AgentError as exc:
            return await self._dead(batch_id, line, exc)

    def _budget_wait(self, exc: BudgetExceeded, deferrals: int) -> float:
        # Backoff, because holds settling may free room before the window resets; never
        # later than the reset, when room is certain.
        backoff = min(self._retry.base_s * 2**deferrals, self._wait_max_s)
        reset = getattr(exc, "retry_after_s", None)
        return float(min(backoff, reset)) if reset else float(backoff)

    async def _admit(self, provider: str, request: CompletionRequest) -> float | None:
        # None when the provider's window admits the line now (it is counted), else the wait.
        limits = self._limits.get(provider)
        if limits is None or limits.limiter is None:
            return None
        tokens = 0
        if limits.counts_tokens:
            tokens = await anyio.to_thread.run_sync(  # token counting is CPU work
                count_message_tokens, request.messages, request.model
            )
        decision = await limits.limiter.check(SUBJECT_PREFIX + provider, tokens)
        if decision.allowed:
            return None
        if decision.retry_after_s is None:
            raise RequestTooLarge(
                f"the line's {tokens} prompt tokens exceed {provider}'s deferred token limit"
            )
        return decision.retry_after_s

    async def _count_answer(self, provider: str, completion_tokens: int) -> None:
        limits = self._limits.get(provider)
        if limits is not None and limits.limiter is not None and limits.counts_tokens:
            await limits.limiter.adjust(SUBJECT_PREFIX + provider, completion_tokens)

    async def _later(self, later: Later) -> Later:
        if self._waited is not None:
            await self._waited(later.reason)
        return later

    async def _once(self, request: CompletionRequest, line: Line) -> tuple[LineResult, int]:
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
        result = LineResult(
            line.custom_id,
            "completed",
            "cache" if tail.cache_write == "skipped:hit" else "deferred",
            200,
            caller_answer(tail.completion, line.protocol, native=native),
            model=tail.model,
            cost_usd_micros=tail.cost_usd_micros,
            interactive_usd_micros=interactive,
        )
        return result, tail.usage.completion

    async def _dead(self, batch_id: str, line: Line, exc: AgentError) -> LineResult:
        status = getattr(exc, "status", None) or (400 if isinstance(exc, InvalidRequest) else 502)
        result = failed(
            line.custom_id, exc.code, str(exc), status_code=int(status), source="deferred"
        )
        if self._dead_letter is not None:
            await self._dead_letter(batch_id, result)
        return result


class RequestTooLarge(AgentError):
    """A line larger than its provider's whole token window: waiting cannot admit it."""

    code = "rate_limited"
