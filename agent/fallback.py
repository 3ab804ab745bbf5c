"""`FallbackClient`: a model's fallback chain with retries, deadlines, circuit breakers, a
first-token limit, context-window awareness and mid-stream continuation.

Timing: the requested model (all its attempts) runs under ``timeout_s``, capped by the
policy's ``total_deadline_s``; each next model of the chain gets the same, within what is left
of the total deadline. For streams these deadlines cover the wait for the first content
chunk, and ``first_token_timeout_s`` (shorter) fails a slow start over to the next model;
once content flows, a stream that breaks (cut, stalled, errored) is continued on the next
model of the chain when the request allows it (`agent.continuation`), else it raises
`StreamInterrupted`.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import TypeVar

import anyio
import msgspec

from agent.base import LLMClient
from agent.breaker import CircuitBreaker, counts_as_failure
from agent.continuation import (
    all_finished,
    can_continue,
    continuation_request,
    is_content,
)
from agent.errors import (
    BadRequest,
    ContextLengthExceeded,
    ProviderError,
    StreamInterrupted,
    UpstreamTimeout,
)
from agent.fallback_chain import Chain, Plan, Step, chain_function
from agent.retry import Clock, Retrier, RetryPolicy, Sleep
from agent.tokens import count_message_tokens
from agent.types import LLMRequest, LLMResponse, StreamChunk

T = TypeVar("T")

logger = logging.getLogger(__name__)

# Closing an abandoned upstream stream must finish even when our caller is cancelled.
_CLOSE_GRACE_S = 5.0


class FallbackClient:
    """An `LLMClient` that tries the requested model, then the models of its fallback chain.

    Falls back when a model's retries run out, its deadline (or, for a stream, the first-token
    limit) passes, its breaker is open, or the prompt does not fit its context window; answers
    from a later model carry ``used_fallback=True`` and a ``fallback_reason``
    (``primary_timeout``, ``primary_rate_limited``, ``circuit_open``, ``context_window``,
    ``primary_error:<code>``, and ``midstream:<code>`` for a continued stream). Caller errors
    (`BadRequest`) are raised as they are, except a context-length refusal, which moves on to
    a model with a larger window. Cancellation is never retried.

    The chain: ``chain_for(model)`` (the registry's, in order), else
    ``secondary_model_for(model)`` (one model), else ``secondary_model`` for every request,
    else the secondary gets the request unchanged. ``primary`` serves the requested model,
    ``secondary`` every later one (the same client when one client serves every provider).
    Breakers: ``breaker_for(model)`` gives each model its own; ``breaker`` guards the
    requested model only. ``context_window_for(model)`` (tokens, None when unknown) lets a
    request skip a model it cannot fit; ``prefill_for(model)`` says whether a model continues
    an assistant prefill (mid-stream continuation then sends the partial answer as one).
    """

    def __init__(
        self,
        primary: LLMClient,
        secondary: LLMClient | None,
        *,
        timeout_s: float,
        secondary_model: str | None = None,
        secondary_model_for: Callable[[str], str | None] | None = None,
        chain_for: Callable[[str], Sequence[str]] | None = None,
        retry: RetryPolicy,
        breaker: CircuitBreaker | None = None,
        breaker_for: Callable[[str], CircuitBreaker | None] | None = None,
        first_token_timeout_s: float | None = None,
        context_window_for: Callable[[str], int | None] | None = None,
        prefill_for: Callable[[str], bool] | None = None,
        continue_mid_stream: bool = True,
        name: str = "fallback",
        rng: random.Random | None = None,
        sleep: Sleep = anyio.sleep,
        clock: Clock = time.monotonic,
    ) -> None:
        if timeout_s <= 0:
            raise ValueError("timeout_s: expected a positive number of seconds")
        if first_token_timeout_s is not None and first_token_timeout_s <= 0:
            raise ValueError("first_token_timeout_s: expected a positive number of seconds")
        if sum(x is not None for x in (secondary_model, secondary_model_for, chain_for)) > 1:
            raise ValueError("give one of secondary_model, secondary_model_for, chain_for")
        self.primary = primary
        self.secondary = secondary
        self.breaker = breaker
        self._breaker_for = breaker_for
        self._timeout_s = timeout_s
        self._first_token_timeout_s = first_token_timeout_s
        self._chain_for = chain_function(secondary_model, secondary_model_for, chain_for)
        self._context_window_for = context_window_for
        self._prefill_for = prefill_for or (lambda _model: False)
        self._continue_mid_stream = continue_mid_stream
        self._retrier = Retrier(retry, rng=rng, sleep=sleep, clock=clock)
        self._name = name

    @property
    def name(self) -> str:
        return self._name

    async def generate(self, request: LLMRequest) -> LLMResponse:
        """Return the first answer the chain gives.

        Raises the requested model's error when nothing may be tried after it (no chain, or
        the request itself is at fault); when every model fails, the last error, chained to
        the first.
        """
        plan = self._plan()
        chain = Chain(self._attempts(request), fits=self._fits, name=self._name)
        while True:
            step = chain.next_step()
            try:
                response = await self._run(step, _generate_call(step), plan)
            except ProviderError as exc:
                chain.failed(step, exc)
                continue
            if step.index == 0:
                return response
            return msgspec.structs.replace(
                response, used_fallback=True, fallback_reason=chain.reason
            )

    async def stream(self, request: LLMRequest) -> AsyncIterator[StreamChunk]:
        """Yield the chunks of the first model that starts answering in time.

        Retries and fallback happen before the first content chunk reaches the caller. After
        it, a broken stream is continued on the next model of the chain when the request
        allows it (one choice, text so far); otherwise it raises `StreamInterrupted`.
        """
        plan = self._plan()
        chain = Chain(self._attempts(request), fits=self._fits, name=self._name)
        step, opened = await self._open(chain, plan)
        produced: list[str] = []
        delivered: list[StreamChunk] = []
        try:
            while True:
                reason = chain.reason if step.index > 0 else None
                try:
                    for chunk in opened.head:
                        produced.append(chunk.text)
                        delivered.append(chunk)
                        yield _mark(chunk, reason)
                    async for chunk in opened.iterator:
                        produced.append(chunk.text)
                        delivered.append(chunk)
                        yield _mark(chunk, reason)
                    self._record_success(step)
                    return
                except ProviderError as exc:
                    self._record_failure(step, exc)
                    if all_finished(delivered):
                        # Every choice had already finished: only the provider's closing
                        # (usage, [DONE]) was lost. The answer is whole; nothing to continue.
                        logger.warning("%s stream lost its ending: %s", step.client.name, exc)
                        return
                    text = "".join(produced)
                    if not self._continue_mid_stream or not can_continue(request, delivered, text):
                        raise _interrupted(step, exc) from exc
                    chain.reason = f"midstream:{exc.code}"
                    logger.warning(
                        "%s stream broke after %d characters (%s): continuing on the next model",
                        step.client.name,
                        len(text),
                        exc,
                    )
                    await _close(opened.iterator)
                    # The broken attempt ends here: what it produced is billed on its model.
                    yield StreamChunk(model=step.request.model, attempt_ended=True)
                    broken = step
                    # The continuation gets time of its own: a long answer may break after
                    # the request's total deadline, and the next model is not to blame.
                    plan = self._plan()
                    try:
                        step, opened = await self._open(chain, plan, continuing=text)
                    except ProviderError as last:
                        raise _interrupted(broken, last) from exc
        finally:
            await _close(opened.iterator)

    # -- attempts ---------------------------------------------------------------------------

    def _attempts(self, request: LLMRequest) -> list[Step]:
        chain = list(self._chain_for(request.model)) if self.secondary is not None else []
        steps = [Step(0, self.primary, request, last=not chain)]
        for index, model in enumerate(chain, start=1):
            routed = request if model == request.model else _with_model(request, model)
            steps.append(Step(index, self.secondary or self.primary, routed, index == len(chain)))
        return steps

    async def _open(
        self,
        chain: Chain,
        plan: Plan,
        *,
        continuing: str | None = None,
    ) -> tuple[Step, _OpenedStream]:
        while True:
            base = chain.next_step()
            step = base
            prefill = continuing is not None and self._prefill_for(base.request.model)
            if continuing is not None:
                step = _continued(base, continuing, prefill=prefill)
            try:
                opened = await self._run(step, self._stream_call(step), plan)
            except BadRequest as exc:
                if not prefill or continuing is None or isinstance(exc, ContextLengthExceeded):
                    chain.failed(step, exc)
                    continue
                # The provider refused the prefill after all: ask the same model to go on
                # from the partial answer given as an ordinary turn instead.
                logger.info("%s refused the prefill: continuing by instruction", step.client.name)
                step = _continued(base, continuing, prefill=False)
                try:
                    opened = await self._run(step, self._stream_call(step), plan)
                except ProviderError as again:
                    chain.failed(step, again)
                    continue
            except ProviderError as exc:
                chain.failed(step, exc)
                continue
            return step, opened

    def _stream_call(self, step: Step) -> Callable[[], Awaitable[_OpenedStream]]:
        return lambda: _open_stream(step.client, step.request, self._first_token_timeout_s)

    async def _run(self, step: Step, call: Callable[[], Awaitable[T]], plan: Plan) -> T:
        breaker = self._breaker(step)
        deadline = plan.deadline_for(step, self._retrier.clock(), self._timeout_s)

        async def guarded() -> T:
            if breaker is None:
                return await call()
            with breaker.guard():
                return await call()

        had_time = self._remaining(deadline) > 0
        with anyio.move_on_after(self._remaining(deadline)):
            return await self._retrier.run(guarded, deadline=deadline)
        # Only our own deadline lands here: a caller's cancellation propagates through. A
        # model that was given no time at all is not at fault.
        if breaker is not None and had_time:
            breaker.record_failure()
        raise UpstreamTimeout(
            f"{step.client.name} gave no answer for {step.request.model} in time",
            provider=step.client.name,
        )

    def _breaker(self, step: Step) -> CircuitBreaker | None:
        if self._breaker_for is not None:
            return self._breaker_for(step.request.model)
        return self.breaker if step.index == 0 else None

    def _record_failure(self, step: Step, error: ProviderError) -> None:
        breaker = self._breaker(step)
        if breaker is not None and counts_as_failure(error):
            breaker.record_failure()

    def _record_success(self, step: Step) -> None:
        breaker = self._breaker(step)
        if breaker is not None:
            breaker.record_success()

    def _fits(self, request: LLMRequest) -> bool:
        if self._context_window_for is None:
            return True
        window = self._context_window_for(request.model)
        if window is None:
            return True
        prompt = count_message_tokens(request.messages, request.model, system=request.system)
        return prompt + (request.max_tokens or 0) <= window

    def _plan(self) -> Plan:
        now = self._retrier.clock()
        return Plan(total_deadline=now + self._retrier.policy.total_deadline_s)

    def _remaining(self, deadline: float) -> float:
        return max(0.0, deadline - self._retrier.clock())


def _with_model(request: LLMRequest, model: str) -> LLMRequest:
    return msgspec.structs.replace(request, model=model)


@dataclass(slots=True)
class _OpenedStream:
    """A provider stream pulled up to (and including) its first content chunk."""

    iterator: AsyncIterator[StreamChunk]
    head: list[StreamChunk] = field(default_factory=list)


def _mark(chunk: StreamChunk, reason: str | None) -> StreamChunk:
    if reason is None:
        return chunk
    return msgspec.structs.replace(chunk, used_fallback=True, fallback_reason=reason)


async def _open_stream(
    client: LLMClient, request: LLMRequest, first_token_timeout_s: float | None
) -> _OpenedStream:
    # Pull until the first content chunk so that failures before it can still be retried or
    # handed to the next model: nothing has reached the caller yet.
    opened = _OpenedStream(aiter(client.stream(request)))
    try:
        with anyio.fail_after(first_token_timeout_s):
            async for chunk in opened.iterator:
                opened.head.append(chunk)
                if is_content(chunk):
                    break
    except TimeoutError as exc:
        await _close(opened.iterator)
        raise UpstreamTimeout(
            f"{client.name} sent no first token for {request.model} "
            f"within {first_token_timeout_s:g}s",
            provider=client.name,
        ) from exc
    except BaseException:
        await _close(opened.iterator)
        raise
    return opened


def _continued(step: Step, partial: str, *, prefill: bool) -> Step:
    request = continuation_request(step.request, partial, prefill=prefill)
    return Step(step.index, step.client, request, step.last)


def _generate_call(step: Step) -> Callable[[], Awaitable[LLMResponse]]:
    return lambda: step.client.generate(step.request)


def _interrupted(step: Step, error: ProviderError) -> StreamInterrupted:
    return StreamInterrupted(
        f"{step.client.name} stream failed after the first token: {error}",
        provider=step.client.name,
        cause=error,
    )


async def _close(iterator: AsyncIterator[StreamChunk]) -> None:
    aclose = getattr(iterator, "aclose", None)
    if aclose is not None:
        with anyio.move_on_after(_CLOSE_GRACE_S, shield=True):
            await aclose()
