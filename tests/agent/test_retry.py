"""RetryPolicy and Retrier: what is retried, how long each wait is, when it gives up."""

from __future__ import annotations

import random

import pytest

from agent.errors import (
    AuthError,
    BadRequest,
    ContextLengthExceeded,
    ProtocolError,
    ProviderError,
    RateLimited,
    UpstreamError,
    UpstreamTimeout,
)
from agent.retry import Retrier, RetryPolicy
from agent.testing import ManualClock, ScriptedClient
from agent.types import LLMRequest, Message

REQUEST = LLMRequest(model="m", messages=(Message(role="user", content="hi"),))


class _UpperBound(random.Random):
    """Always picks the top of the jitter range, to pin the exponential caps."""

    def uniform(self, a: float, b: float) -> float:
        return b


def _retrier(clock: ManualClock, policy: RetryPolicy, rng: random.Random | None = None) -> Retrier:
    return Retrier(policy, rng=rng or random.Random(7), sleep=clock.sleep, clock=clock)


class TestRetryPolicy:
    @pytest.mark.parametrize(
        "kwargs",
        [
            {"max_attempts": 0},
            {"base_delay_s": -1.0},
            {"max_delay_s": -0.5},
            {"total_deadline_s": 0.0},
        ],
    )
    def test_rejects_nonsense(self, kwargs: dict[str, float]) -> None:
        with pytest.raises(ValueError):
            RetryPolicy(**kwargs)  # type: ignore[arg-type]

    def test_backoff_cap_doubles_then_saturates(self) -> None:
        policy = RetryPolicy(base_delay_s=0.1, max_delay_s=1.0)
        assert [policy.backoff_cap(n) for n in range(6)] == pytest.approx(
            [0.1, 0.2, 0.4, 0.8, 1.0, 1.0]
        )
        assert policy.backoff_cap(10_000) == 1.0


class TestJitter:
    def test_full_jitter_stays_within_zero_and_cap(self) -> None:
        policy = RetryPolicy(base_delay_s=0.1, max_delay_s=1.0)
        retrier = Retrier(policy, rng=random.Random(1))
        error = UpstreamError("503")
        for retry_index in range(6):
            cap = policy.backoff_cap(retry_index)
            samples = [retrier.delay(retry_index, error) for _ in range(300)]
            assert all(0.0 <= s <= cap for s in samples)
            # Full jitter spreads over the whole range, not just near the cap.
            assert min(samples) < 0.1 * cap
            assert max(samples) > 0.9 * cap

    def test_retry_after_wins_over_backoff_and_max_delay(self) -> None:
        retrier = Retrier(RetryPolicy(base_delay_s=0.1, max_delay_s=1.0), rng=_UpperBound())
        assert retrier.delay(0, RateLimited("429", retry_after=7.5)) == 7.5
        assert retrier.delay(0, RateLimited("429", retry_after=None)) == pytest.approx(0.1)


class TestRetrier:
    @pytest.mark.parametrize(
        "error",
        [
            RateLimited("429"),
            UpstreamError("502", status=502),
            UpstreamTimeout("slow"),
            ProtocolError("bad sse"),
        ],
        ids=["429", "5xx", "timeout", "protocol"],
    )
    @pytest.mark.anyio
    async def test_retries_retryable_errors_up_to_max_attempts(self, error: ProviderError) -> None:
        clock = ManualClock()
        client = ScriptedClient("p", [error] * 4, clock=clock)
        retrier = _retrier(clock, RetryPolicy(max_attempts=4, base_delay_s=0.1))
        with pytest.raises(type(error)):
            await retrier.run(lambda: client.generate(REQUEST), deadline=100.0)
        assert client.call_count == 4
        assert len(clock.sleeps) == 3

    @pytest.mark.parametrize(
        "error",
        [BadRequest("400", status=400), AuthError("401", status=401), ContextLengthExceeded("big")],
        ids=["400", "401", "context"],
    )
    @pytest.mark.anyio
    async def test_never_retries_caller_errors(self, error: ProviderError) -> None:
        clock = ManualClock()
        client = ScriptedClient("p", [error], default="late", clock=clock)
        with pytest.raises(type(error)):
            await _retrier(clock, RetryPolicy(max_attempts=5)).run(
                lambda: client.generate(REQUEST), deadline=100.0
            )
        assert client.call_count == 1
        assert clock.sleeps == []

    @pytest.mark.anyio
    async def test_success_after_failures_spaces_calls_by_the_waits(self) -> None:
        clock = ManualClock()
        client = ScriptedClient(
            "p", [UpstreamError("500"), UpstreamError("500"), "ok"], clock=clock
        )
        retrier = _retrier(clock, RetryPolicy(max_attempts=3, base_delay_s=0.5), _UpperBound())
        response = await retrier.run(lambda: client.generate(REQUEST), deadline=100.0)
        assert response.text == "ok"
        assert clock.sleeps == pytest.approx([0.5, 1.0])
        assert client.call_times == pytest.approx([0.0, 0.5, 1.5])

    @pytest.mark.anyio
    async def test_honours_retry_after(self) -> None:
        clock = ManualClock()
        client = ScriptedClient("p", [RateLimited("429", retry_after=12.0), "ok"], clock=clock)
        retrier = _retrier(clock, RetryPolicy(max_attempts=3, max_delay_s=1.0))
        response = await retrier.run(lambda: client.generate(REQUEST), deadline=100.0)
        assert response.text == "ok"
        assert clock.sleeps == [12.0]

    @pytest.mark.anyio
    async def test_retry_after_past_the_deadline_gives_up_at_once(self) -> None:
        clock = ManualClock()
        client = ScriptedClient(
            "p", [RateLimited("429", retry_after=30.0)], default="ok", clock=clock
        )
        retrier = _retrier(clock, RetryPolicy(max_attempts=3))
        with pytest.raises(RateLimited) as caught:
            await retrier.run(lambda: client.generate(REQUEST), deadline=10.0)
        assert caught.value.retry_after == 30.0
        assert client.call_count == 1
        assert clock.sleeps == []

    @pytest.mark.anyio
    async def test_stops_when_the_next_backoff_would_pass_the_deadline(self) -> None:
        clock = ManualClock()
        client = ScriptedClient("p", default=UpstreamError("503"), clock=clock)
        policy = RetryPolicy(max_attempts=10, base_delay_s=1.0, max_delay_s=100.0)
        # Waits at the cap are 1, 2, 4, 8: after 1+2+4 = 7 s the next 8 s would end at 15 > 10.
        with pytest.raises(UpstreamError):
            await _retrier(clock, policy, _UpperBound()).run(
                lambda: client.generate(REQUEST), deadline=10.0
            )
        assert clock.sleeps == [1.0, 2.0, 4.0]
        assert client.call_count == 4
        assert clock.now <= 10.0
