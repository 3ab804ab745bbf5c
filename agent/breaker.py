"""A circuit breaker: stop calling a provider that keeps failing, probe it after a cool-down.

What counts as a failure: retryable provider errors (429, 5xx, timeouts, broken streams) and
timeouts recorded by the caller. Caller errors (BadRequest, ContextLengthExceeded) and
AuthError do not count: the provider answered, and a bad key is not cured by waiting.
Cancellation says nothing about the provider either.
"""

from __future__ import annotations

import enum
import time
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager

from agent.errors import CircuitOpen, ProviderError, RateLimited


class BreakerState(enum.StrEnum):
    """Closed: calls pass. Open: calls are refused. Half-open: one probe call is let through."""

    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


class CircuitBreaker:
    """Opens after ``failure_threshold`` consecutive failures; probes after ``cooldown_s``.

    Wrap each provider call in `guard`. While open, `guard` raises `CircuitOpen` before the
    call starts. After the cool-down, exactly one caller is admitted as the probe (others are
    refused while it runs): its success closes the breaker, its failure re-opens it for
    another cool-down. Not thread-safe; meant for one event loop.
    """

    def __init__(
        self,
        failure_threshold: int,
        cooldown_s: float,
        clock: Callable[[], float] = time.monotonic,
        *,
        name: str = "",
    ) -> None:
        if failure_threshold < 1:
            raise ValueError("failure_threshold: expected at least 1")
        if cooldown_s < 0:
            raise ValueError("cooldown_s: expected zero or more seconds")
        self.failure_threshold = failure_threshold
        self.cooldown_s = cooldown_s
        self.name = name
        self._clock = clock
        self._state = BreakerState.CLOSED
        self._consecutive_failures = 0
        self._opened_at = 0.0
        self._probing = False
        self._transitions: Counter[tuple[BreakerState, BreakerState]] = Counter()
        self._rejected = 0

    @property
    def state(self) -> BreakerState:
        """The current state; an open breaker whose cool-down has passed reads half-open."""
        if self._state is BreakerState.OPEN and self._clock() - self._opened_at >= self.cooldown_s:
            self._move_to(BreakerState.HALF_OPEN)
        return self._state

    @property
    def transitions(self) -> Mapping[tuple[BreakerState, BreakerState], int]:
        """How often each ``(from, to)`` transition happened, for metrics."""
        return dict(self._transitions)

    @property
    def rejected(self) -> int:
        """Calls refused with `CircuitOpen` so far."""
        return self._rejected

    @property
    def consecutive_failures(self) -> int:
        """Failures since the last success (reset when the breaker closes)."""
        return self._consecutive_failures

    @contextmanager
    def guard(self) -> Iterator[None]:
        """Admit one call or raise `CircuitOpen`; record how the call ended.

        A retryable `ProviderError` is a failure, a clean exit a success; anything else
        (caller errors, cancellation) releases a probe slot without changing the state.
        """
        self._admit()
        try:
            yield
        except ProviderError as exc:
            if counts_as_failure(exc):
                self.record_failure()
            else:
                self._probing = False
            raise
        except BaseException:
            self._probing = False
            raise
        else:
            self.record_success()

    def record_success(self) -> None:
        """The provider answered: reset the count, close a half-open breaker."""
        self._probing = False
        self._consecutive_failures = 0
        if self.state is BreakerState.HALF_OPEN:
            self._move_to(BreakerState.CLOSED)

    def record_failure(self) -> None:
        """The provider failed (also for timeouts seen by the caller): count it, maybe open."""
        self._probing = False
        state = self.state
        if state is BreakerState.HALF_OPEN:
            self._open()
        elif state is BreakerState.CLOSED:
            self._consecutive_failures += 1
            if self._consecutive_failures >= self.failure_threshold:
                self._open()
        # Already open: a late failure of a call admitted earlier changes nothing.

    def _admit(self) -> None:
        state = self.state
        if state is BreakerState.CLOSED:
            return
        if state is BreakerState.HALF_OPEN and not self._probing:
            self._probing = True
            return
        self._rejected += 1
        if state is BreakerState.HALF_OPEN:
            detail = "a probe call is in flight"
        else:
            remaining = self.cooldown_s - (self._clock() - self._opened_at)
            detail = f"retry in {remaining:.1f}s"
        raise CircuitOpen(
            f"circuit open for {self.name or 'provider'}: {detail}", provider=self.name
        )

    def _open(self) -> None:
        self._opened_at = self._clock()
        self._move_to(BreakerState.OPEN)

    def _move_to(self, new: BreakerState) -> None:
        if new is self._state:
            return
        self._transitions[(self._state, new)] += 1
        self._state = new
        if new is BreakerState.CLOSED:
            self._consecutive_failures = 0


def counts_as_failure(exc: ProviderError) -> bool:
    """Whether ``exc`` signals provider trouble (and so counts towards opening a breaker).

    Our own outbound throttling (`RateLimited` with no HTTP status: the provider never saw
    the call) is not provider trouble.
    """
    if isinstance(exc, RateLimited) and exc.status is None:
        return False
    return exc.retryable


OTHER_MODELS = "other"
"""The shared breaker of the models past `ModelBreakers`' bound."""


class ModelBreakers:
    """One `CircuitBreaker` per model (and so per provider and model): one failing model
    must not push every other model of its provider onto the fallback path."""

    def __init__(
        self,
        *,
        failure_threshold: int,
        cooldown_s: float,
        clock: Callable[[], float] = time.monotonic,
        max_models: int = 1000,
    ) -> None:
        # A passthrough provider accepts any model name a caller sends: past ``max_models``
        # breakers, the others share one, so memory stays bounded.
        self._max_models = max_models
        self._failure_threshold = failure_threshold
        self._cooldown_s = cooldown_s
        self._clock = clock
        self._breakers: dict[str, CircuitBreaker] = {}

    def for_model(self, model: str) -> CircuitBreaker:
        """The breaker of ``model``, made on first use."""
        breaker = self._breakers.get(model)
        if breaker is None and len(self._breakers) >= self._max_models:
            model = OTHER_MODELS
            breaker = self._breakers.get(model)
        if breaker is None:
            breaker = CircuitBreaker(
                self._failure_threshold, self._cooldown_s, self._clock, name=model
            )
            self._breakers[model] = breaker
        return breaker

    def states(self) -> dict[str, BreakerState]:
        """Each model's breaker state, for metrics and health pages."""
        return {model: breaker.state for model, breaker in self._breakers.items()}
