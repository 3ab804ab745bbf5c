"""The fallback chain of one request: its steps (one model each), the deadline plan, and the
walk that skips models a prompt cannot fit, raises what retrying cannot help, and keeps the
first error and the reason the requested model was left (`agent.fallback.FallbackClient`)."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from agent.base import LLMClient
from agent.errors import (
    BadRequest,
    CircuitOpen,
    ContextLengthExceeded,
    ProviderError,
    RateLimited,
    UpstreamTimeout,
)
from agent.types import LLMRequest

logger = logging.getLogger("agent.fallback")


def fallback_reason(error: ProviderError) -> str:
    """A short machine-readable label for why a model was given up on."""
    if isinstance(error, CircuitOpen):
        return "circuit_open"
    if isinstance(error, ContextLengthExceeded):
        return "context_window"
    if isinstance(error, UpstreamTimeout):
        return "primary_timeout"
    if isinstance(error, RateLimited):
        return "primary_rate_limited"
    return f"primary_error:{error.code}"


@dataclass(frozen=True, slots=True)
class Step:
    """One model of the chain: its position, the client serving it and its request; the
    last one may use all that is left of the total deadline."""

    index: int
    client: LLMClient
    request: LLMRequest
    last: bool = False


@dataclass(frozen=True, slots=True)
class Plan:
    """The request's total deadline, from which every model's own one is cut."""

    total_deadline: float

    def deadline_for(self, step: Step, now: float, timeout_s: float) -> float:
        # Every model but the last gets its own timeout, within what is left of the total.
        if step.last and step.index > 0:
            return self.total_deadline
        return min(now + timeout_s, self.total_deadline)


class Chain:
    """Walks the steps in order, skipping models that cannot take the request, and keeps
    the first error (raised when nothing is left) and the reason the first model was left."""

    def __init__(self, steps: list[Step], *, fits: Callable[[LLMRequest], bool], name: str) -> None:
        self._steps = steps
        self._fits = fits
        self._name = name
        self._next = 0
        self.first_error: ProviderError | None = None
        self.last_error: ProviderError | None = None
        self._first_step: Step | None = None
        self._last_step: Step | None = None
        self.reason: str | None = None

    def next_step(self) -> Step:
        """The next model that can take the request; raises the chain's error when none is
        left."""
        while self._next < len(self._steps):
            step = self._steps[self._next]
            self._next += 1
            if self._fits(step.request):
                return step
            if self.reason is None:
                self.reason = "context_window"
            logger.info("skipping %s: the prompt exceeds its context window", step.request.model)
        raise self._exhausted()

    def failed(self, step: Step, error: ProviderError) -> None:
        """Note ``error``; raise it when trying the next model cannot help."""
        if self.first_error is None:
            self.first_error, self._first_step = error, step
        self.last_error, self._last_step = error, step
        if isinstance(error, BadRequest) and not isinstance(error, ContextLengthExceeded):
            raise error
        if self._next >= len(self._steps):
            raise self._exhausted()
        if self.reason is None:
            self.reason = fallback_reason(error)
        logger.warning(
            "falling back from %s (%s): %s", step.request.model, fallback_reason(error), error
        )

    def _exhausted(self) -> ProviderError:
        error = self.last_error
        if error is None:
            return ContextLengthExceeded(
                "the prompt does not fit the context window of any model of the chain",
                provider=self._name,
                status=400,
            )
        first, first_step, last_step = self.first_error, self._first_step, self._last_step
        if error is not first and first is not None and first_step and last_step:
            message = error.args[0] if error.args else str(error)
            error.args = (
                f"primary {first_step.client.name} failed ({fallback_reason(first)}: {first}), "
                f"then secondary {last_step.client.name} failed: {message}",
            )
            error.__cause__ = first
        return error


def chain_function(
    secondary_model: str | None,
    secondary_model_for: Callable[[str], str | None] | None,
    chain_for: Callable[[str], Sequence[str]] | None,
) -> Callable[[str], Sequence[str]]:
    """The models after a requested one, from whichever of the three ways was given."""
    if chain_for is not None:
        return chain_for
    if secondary_model_for is not None:
        one = secondary_model_for

        def first_only(model: str) -> Sequence[str]:
            found = one(model)
            return () if found is None else (found,)

        return first_only
    if secondary_model is not None:
        fixed = secondary_model
        return lambda _model: (fixed,)
    return lambda model: (model,)
