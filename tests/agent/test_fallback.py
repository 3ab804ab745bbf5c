"""FallbackClient over ScriptedClients: ordering, deadlines, retries, breaker, streams."""

from __future__ import annotations

import logging
import random
import time
from collections.abc import AsyncGenerator, AsyncIterator

import anyio
import pytest

from agent.base import LLMClient
from agent.breaker import BreakerState, CircuitBreaker
from agent.errors import (
    AuthError,
    BadRequest,
    CircuitOpen,
    ContextLengthExceeded,
    RateLimited,
    StreamInterrupted,
    UpstreamError,
    UpstreamTimeout,
)
from agent.fallback import FallbackClient
from agent.retry import RetryPolicy
from agent.testing import Chunks, Delay, ManualClock, ScriptedClient
from agent.types import LLMRequest, LLMResponse, Message, StreamChunk

REQUEST = LLMRequest(model="gpt-4o", messages=(Message(role="user", content="where is my order"),))
FAST_RETRY = RetryPolicy(max_attempts=3, base_delay_s=0.001, max_delay_s=0.002, total_deadline_s=5)


def _fallback(
    primary: ScriptedClient,
    secondary: ScriptedClient | None,
    *,
    timeout_s: float = 2.0,
    retry: RetryPolicy = FAST_RETRY,
    breaker: CircuitBreaker | None = None,
    clock: ManualClock | None = None,
    continue_mid_stream: bool = True,
) -> FallbackClient:
    if clock is None:
        return FallbackClient(
            primary,
            secondary,
            timeout_s=timeout_s,
            secondary_model="gpt-4o-mini",
            retry=retry,
            breaker=breaker,
            continue_mid_stream=continue_mid_stream,
            rng=random.Random(3),
        )
    return FallbackClient(
        primary,
        secondary,
        timeout_s=timeout_s,
        secondary_model="gpt-4o-mini",
        retry=retry,
        breaker=breaker,
        rng=random.Random(3),
        sleep=clock.sleep,
        clock=clock,
    )


async def _collect(client: FallbackClient) -> list[StreamChunk]:
    return [chunk async for chunk in client.stream(REQUEST)]


def test_fakes_and_wrapper_satisfy_the_protocol() -> None:
    primary = ScriptedClient("p")
    assert isinstance(primary, LLMClient)
    assert isinstance(_fallback(primary, None), LLMClient)


class TestGenerate:
    @pytest.mark.anyio
    async def test_primary_answers_and_secondary_is_untouched(self) -> None:
        primary, secondary = ScriptedClient("p", ["from primary"]), ScriptedClient("s")
        response = await _fallback(primary, secondary).generate(REQUEST)
        assert (response.text, response.provider, response.model) == (
            "from primary",
            "p",
            "gpt-4o",
        )
        assert not response.used_fallback and response.fallback_reason is None
        assert secondary.call_count == 0

    @pytest.mark.anyio
    async def test_5xx_is_retried_then_secondary_answers_with_its_model(
        self, caplog: pytest.LogCaptureFixture
    ) -> None:
        primary = ScriptedClient("p", default=UpstreamError("502", status=502))
        secondary = ScriptedClient("s", ["from secondary"])
        with caplog.at_level(logging.WARNING, logger="agent.fallback"):
            response = await _fallback(primary, secondary).generate(REQUEST)
        assert response.text == "from secondary"
        assert response.used_fallback
        assert response.fallback_reason == "primary_error:upstream_error"
        assert primary.call_count == 3
        assert secondary.calls[0].request.model == "gpt-4o-mini"
        assert secondary.calls[0].started_at >= primary.calls[-1].started_at
        warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
        assert len(warnings) == 1
        assert "primary_error:upstream_error" in warnings[0].getMessage()

    @pytest.mark.anyio
    async def test_rate_limited_primary_falls_back_with_its_reason(self) -> None:
        primary = ScriptedClient("p", default=RateLimited("429", retry_after=0.001))
        secondary = ScriptedClient("s", ["ok"])
        response = await _fallback(primary, secondary).generate(REQUEST)
        assert response.fallback_reason == "primary_rate_limited"
        assert primary.call_count == 3

    @pytest.mark.anyio
    async def test_caller_errors_are_raised_without_retry_or_fallback(self) -> None:
        error = BadRequest("400", status=400)
        primary, secondary = ScriptedClient("p", [error]), ScriptedClient("s", default="no")
        with pytest.raises(BadRequest):
            await _fallback(primary, secondary).generate(REQUEST)
        assert primary.call_count == 1
        assert secondary.call_count == 0

    @pytest.mark.anyio
    async def test_a_context_length_refusal_moves_on_to_the_next_model(self) -> None:
        error = ContextLengthExceeded("too long", status=400)
        primary, secondary = ScriptedClient("p", [error]), ScriptedClient("s", ["ok"])
        response = await _fallback(primary, secondary).generate(REQUEST)
        assert response.text == "ok" and response.fallback_reason == "context_window"
        assert primary.call_count == 1  # not retried: the same prompt would not fit

    @pytest.mark.anyio
    async def test_auth_error_is_not_retried_but_falls_back(self) -> None:
        primary = ScriptedClient("p", [AuthError("401", status=401)])
        secondary = ScriptedClient("s", ["ok"])
        response = await _fallback(primary, secondary).generate(REQUEST)
        assert response.fallback_reason == "primary_error:upstream_auth"
        assert primary.call_count == 1

    @pytest.mark.anyio
    async def test_slow_primary_times_out_and_secondary_answers(self) -> None:
        primary = ScriptedClient("p", [Delay(10.0, "too late")])
        secondary = ScriptedClient("s", ["quick"])
        started = time.monotonic()
        response = await _fallback(primary, secondary, timeout_s=0.2).generate(REQUEST)
        elapsed = time.monotonic() - started
        assert response.text == "quick"
        assert response.fallback_reason == "primary_timeout"
        assert primary.calls[0].ended == "cancelled"  # the upstream call was abandoned
        assert 0.2 <= elapsed < 1.5

    @pytest.mark.anyio
    async def test_both_failing_raise_the_secondarys_error_chained_to_the_primarys(self) -> None:
        primary = ScriptedClient("p", default=UpstreamError("primary down", status=503))
        secondary = ScriptedClient("s", default=RateLimited("secondary busy"))
        with pytest.raises(RateLimited) as caught:
            await _fallback(primary, secondary).generate(REQUEST)
        message = str(caught.value)
        assert "primary p" in message and "secondary s" in message
        assert "primary down" in message and "secondary busy" in message
        assert isinstance(caught.value.__cause__, UpstreamError)
        assert secondary.call_count == 3  # the secondary has its own retries

    @pytest.mark.anyio
    async def test_slow_secondary_is_cut_at_the_total_deadline(self) -> None:
        primary = ScriptedClient("p", [Delay(10.0)])
        secondary = ScriptedClient("s", [Delay(10.0)])
        retry = RetryPolicy(max_attempts=1, total_deadline_s=0.4)
        started = time.monotonic()
        with pytest.raises(UpstreamTimeout) as caught:
            await _fallback(primary, secondary, timeout_s=0.2, retry=retry).generate(REQUEST)
        assert time.monotonic() - started < 1.5
        assert caught.value.provider == "s"
        assert isinstance(caught.value.__cause__, UpstreamTimeout)
        assert secondary.calls[0].ended == "cancelled"

    @pytest.mark.anyio
    async def test_without_secondary_the_primarys_error_is_raised(self) -> None:
        primary = ScriptedClient("p", default=UpstreamError("down"))
        with pytest.raises(UpstreamError):
            await _fallback(primary, None).generate(REQUEST)
        assert primary.call_count == 3

    @pytest.mark.anyio
    async def test_caller_cancellation_propagates_without_fallback(self) -> None:
        primary = ScriptedClient("p", [Delay(10.0)])
        secondary = ScriptedClient("s", default="never")
        client = _fallback(primary, secondary, timeout_s=5.0)
        started = time.monotonic()
        with anyio.move_on_after(0.1) as scope:
            await client.generate(REQUEST)
        assert scope.cancelled_caught
        assert time.monotonic() - started < 1.0
        assert primary.call_count == 1 and primary.calls[0].ended == "cancelled"
        assert secondary.call_count == 0


class TestBreaker:
    @pytest.mark.anyio
    async def test_open_breaker_sends_calls_straight_to_the_secondary(self) -> None:
        clock = ManualClock()
        breaker = CircuitBreaker(2, 30.0, clock)
        primary = ScriptedClient("p", default=UpstreamError("down"), clock=clock)
        secondary = ScriptedClient("s", default="ok", clock=clock)
        client = _fallback(primary, secondary, breaker=breaker, clock=clock)

        first = await client.generate(REQUEST)
        # The second failed attempt opened the breaker; the third was refused by it.
        assert primary.call_count == 2
        assert first.fallback_reason == "circuit_open"
        assert breaker.state is BreakerState.OPEN

        second = await client.generate(REQUEST)
        assert primary.call_count == 2  # not touched while open
        assert second.used_fallback and second.fallback_reason == "circuit_open"

    @pytest.mark.anyio
    async def test_probe_after_cooldown_closes_the_breaker(self) -> None:
        clock = ManualClock()
        breaker = CircuitBreaker(1, 30.0, clock)
        primary = ScriptedClient("p", [UpstreamError("down"), "healthy again"], clock=clock)
        secondary = ScriptedClient("s", default="backup", clock=clock)
        client = _fallback(primary, secondary, breaker=breaker, clock=clock)
        assert (await client.generate(REQUEST)).text == "backup"
        clock.advance(30.0)
        response = await client.generate(REQUEST)
        assert response.text == "healthy again" and not response.used_fallback
        assert breaker.state is BreakerState.CLOSED

    @pytest.mark.anyio
    async def test_primary_timeout_counts_as_a_failure(self) -> None:
        breaker = CircuitBreaker(1, 30.0)
        primary = ScriptedClient("p", [Delay(10.0)])
        client = _fallback(primary, ScriptedClient("s", ["ok"]), timeout_s=0.1, breaker=breaker)
        assert (await client.generate(REQUEST)).fallback_reason == "primary_timeout"
        assert breaker.state is BreakerState.OPEN

    @pytest.mark.anyio
    async def test_open_breaker_without_secondary_raises_circuit_open(self) -> None:
        clock = ManualClock()
        breaker = CircuitBreaker(1, 30.0, clock)
        breaker.record_failure()
        primary = ScriptedClient("p", default="unused")
        with pytest.raises(CircuitOpen):
            await _fallback(primary, None, breaker=breaker, clock=clock).generate(REQUEST)
        assert primary.call_count == 0


class TestStream:
    @pytest.mark.anyio
    async def test_primary_stream_passes_through(self) -> None:
        primary, secondary = ScriptedClient("p", ["one two three"]), ScriptedClient("s")
        chunks = await _collect(_fallback(primary, secondary))
        assert "".join(c.text for c in chunks) == "one two three"
        assert chunks[-1].usage is not None
        assert not any(c.used_fallback for c in chunks)
        assert secondary.call_count == 0

    @pytest.mark.anyio
    async def test_failure_before_first_token_is_retried(self) -> None:
        primary = ScriptedClient("p", [Chunks((), error=UpstreamError("reset")), "second try"])
        chunks = await _collect(_fallback(primary, ScriptedClient("s")))
        assert "".join(c.text for c in chunks) == "second try"
        assert primary.call_count == 2
        assert primary.calls[0].ended == "raised"

    @pytest.mark.anyio
    async def test_falls_back_before_first_token(self) -> None:
        primary = ScriptedClient("p", default=UpstreamError("502", status=502))
        secondary = ScriptedClient("s", ["backup answer"])
        chunks = await _collect(_fallback(primary, secondary))
        assert "".join(c.text for c in chunks) == "backup answer"
        assert all(c.used_fallback for c in chunks)
        assert {c.fallback_reason for c in chunks} == {"primary_error:upstream_error"}
        assert secondary.calls[0].kind == "stream"
        assert secondary.calls[0].request.model == "gpt-4o-mini"

    @pytest.mark.anyio
    async def test_first_token_wait_is_under_the_primary_timeout(self) -> None:
        primary = ScriptedClient("p", [Delay(10.0, "late")])
        secondary = ScriptedClient("s", ["on time"])
        started = time.monotonic()
        chunks = await _collect(_fallback(primary, secondary, timeout_s=0.2))
        assert time.monotonic() - started < 1.5
        assert "".join(c.text for c in chunks) == "on time"
        assert chunks[0].fallback_reason == "primary_timeout"
        assert primary.calls[0].ended == "cancelled"

    @pytest.mark.anyio
    async def test_failure_after_first_token_is_continued_on_the_next_model(self) -> None:
        cause = UpstreamError("connection reset")
        primary = ScriptedClient("p", [Chunks(("Hello", " there"), error=cause)])
        secondary = ScriptedClient("s", [Chunks((" friend", "."))])
        received: list[StreamChunk] = []
        async for chunk in _fallback(primary, secondary).stream(REQUEST):
            received.append(chunk)
        assert "".join(c.text for c in received) == "Hello there friend."
        # The broken attempt is closed off (billed on its own model) before the next one.
        ends = [i for i, c in enumerate(received) if c.attempt_ended]
        assert len(ends) == 1 and "".join(c.text for c in received[: ends[0]]) == "Hello there"
        assert all(c.fallback_reason == "midstream:upstream_error" for c in received[ends[0] + 1 :])
        # The next model was asked to continue the partial answer, not to start over.
        [asked] = [call.request for call in secondary.calls]
        assert asked.messages[-2] == Message("assistant", "Hello there")
        assert asked.messages[-1].role == "user"

    @pytest.mark.anyio
    async def test_failure_after_first_token_interrupts_when_continuation_is_off(self) -> None:
        cause = UpstreamError("connection reset")
        primary = ScriptedClient("p", [Chunks(("Hello", " there"), error=cause)])
        secondary = ScriptedClient("s", default="never")
        received: list[str] = []
        client = _fallback(primary, secondary, continue_mid_stream=False)
        with pytest.raises(StreamInterrupted) as caught:
            async for chunk in client.stream(REQUEST):
                received.append(chunk.text)
        assert received == ["Hello", " there"]
        assert isinstance(caught.value.cause, UpstreamError)
        assert caught.value.provider == "p"
        assert primary.call_count == 1 and secondary.call_count == 0

    @pytest.mark.anyio
    async def test_secondary_failure_after_first_token_interrupts(self) -> None:
        primary = ScriptedClient("p", default=UpstreamError("down"))
        secondary = ScriptedClient("s", [Chunks(("Hi",), error=UpstreamError("gone"))])
        with pytest.raises(StreamInterrupted) as caught:
            await _collect(_fallback(primary, secondary))
        assert caught.value.provider == "s"
        assert secondary.call_count == 1

    @pytest.mark.anyio
    async def test_closing_the_stream_early_closes_the_upstream(self) -> None:
        primary = ScriptedClient("p", [Chunks(("a", "b", "c"), gap_s=0.01)])
        stream = _fallback(primary, ScriptedClient("s")).stream(REQUEST)
        assert isinstance(stream, AsyncGenerator)
        first = await anext(stream)
        assert first.text == "a"
        await stream.aclose()
        assert primary.calls[0].ended == "closed"

    @pytest.mark.anyio
    async def test_caller_cancellation_propagates_without_fallback(self) -> None:
        primary = ScriptedClient("p", [Delay(10.0)])
        secondary = ScriptedClient("s", default="never")
        with anyio.move_on_after(0.1) as scope:
            await _collect(_fallback(primary, secondary, timeout_s=5.0))
        assert scope.cancelled_caught
        assert primary.calls[0].ended == "cancelled"
        assert secondary.call_count == 0


class TestContinuationLimits:
    @pytest.mark.anyio
    async def test_a_stream_breaking_after_the_total_deadline_is_still_continued(self) -> None:
        # The answer streams for longer than the request's total deadline, then breaks: the
        # continuation gets time of its own, and the next model is not blamed.
        retry = RetryPolicy(
            max_attempts=1, base_delay_s=0.001, max_delay_s=0.002, total_deadline_s=0.3
        )
        error = UpstreamError("reset")
        primary = ScriptedClient("p", [Chunks(("a", "b", "c", "d", "e"), gap_s=0.1, error=error)])
        secondary = ScriptedClient("s", [Chunks((" f", "."))])
        breakers = {
            "gpt-4o": CircuitBreaker(failure_threshold=5, cooldown_s=30),
            "gpt-4o-mini": CircuitBreaker(failure_threshold=5, cooldown_s=30),
        }
        client = FallbackClient(
            primary,
            secondary,
            timeout_s=0.3,
            secondary_model="gpt-4o-mini",
            retry=retry,
            breaker_for=breakers.get,
            rng=random.Random(1),
        )
        request = LLMRequest(model="gpt-4o", messages=(Message("user", "hi"),))
        text = "".join([chunk.text async for chunk in client.stream(request)])
        assert text == "abcde f."
        assert breakers["gpt-4o-mini"].consecutive_failures == 0

    @pytest.mark.anyio
    async def test_the_continuation_asks_only_for_what_is_left_of_the_cap(self) -> None:
        primary = ScriptedClient("p", [Chunks(("word ",) * 20, error=UpstreamError("reset"))])
        secondary = ScriptedClient("s", [Chunks((" end.",))])
        request = LLMRequest(model="gpt-4o", messages=(Message("user", "hi"),), max_tokens=50)
        async for _ in _fallback(primary, secondary).stream(request):
            pass
        [asked] = [call.request for call in secondary.calls]
        assert asked.max_tokens is not None and 0 < asked.max_tokens <= 50 - 20

    @pytest.mark.anyio
    async def test_a_stream_that_lost_only_its_ending_is_not_continued(self) -> None:
        # The finish reason arrived, then the connection dropped: the answer is whole.
        secondary = ScriptedClient("s", default="never")
        received = [c async for c in _fallback(_FinishedThenCut(), secondary).stream(REQUEST)]
        assert "".join(c.text for c in received) == "Done here"
        assert secondary.call_count == 0 and not any(c.attempt_ended for c in received)


class _FinishedThenCut:
    """A provider whose stream finishes its choice, then breaks before its closing."""

    name = "cut"

    async def generate(self, request: LLMRequest) -> LLMResponse:
        raise AssertionError("streams only")

    async def stream(self, request: LLMRequest) -> AsyncIterator[StreamChunk]:
        yield StreamChunk(text="Done", model=request.model)
        yield StreamChunk(text=" here", model=request.model, finish_reason="stop")
        raise UpstreamError("ended before [DONE]")
