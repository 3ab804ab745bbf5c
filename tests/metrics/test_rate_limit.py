"""Rate-limit decisions as HTTP headers, the limits' checks, and the in-process backend."""

from __future__ import annotations

import msgspec
import pytest

from agent.testing import ManualClock
from metrics.rate_limit import (
    RateDecision,
    RateLimiter,
    RateLimitExceeded,
    RateLimits,
    WindowState,
    format_duration,
    rate_limit_headers,
)
from metrics.rate_limit_memory import MemoryRateLimiter

pytestmark = pytest.mark.anyio


class TestHeaders:
    def test_allowed_decision_carries_both_limits_and_no_retry_after(self) -> None:
        decision = RateDecision(
            allowed=True,
            requests=WindowState(limit=60, remaining=59, reset_after_s=1.0),
            tokens=WindowState(limit=150_000, remaining=149_984, reset_after_s=0.006),
        )
        assert rate_limit_headers(decision) == {
            "X-RateLimit-Limit-Requests": "60",
            "X-RateLimit-Remaining-Requests": "59",
            "X-RateLimit-Reset-Requests": "1s",
            "X-RateLimit-Limit-Tokens": "150000",
            "X-RateLimit-Remaining-Tokens": "149984",
            "X-RateLimit-Reset-Tokens": "6ms",
        }

    def test_refusal_adds_retry_after_in_whole_seconds_rounded_up(self) -> None:
        decision = RateDecision(
            allowed=False,
            requests=WindowState(limit=3, remaining=0, reset_after_s=42.5),
            retry_after_s=12.2,
            which="requests",
        )
        headers = rate_limit_headers(decision)
        assert headers["Retry-After"] == "13"
        assert headers["X-RateLimit-Reset-Requests"] == "42.5s"
        assert not any("Tokens" in name for name in headers)

    def test_retry_after_is_at_least_one_second(self) -> None:
        decision = RateDecision(allowed=False, retry_after_s=0.001, which="requests")
        assert rate_limit_headers(decision) == {"Retry-After": "1"}

    def test_a_degraded_decision_sends_no_headers(self) -> None:
        assert rate_limit_headers(RateDecision(allowed=True, degraded=True)) == {}

    @pytest.mark.parametrize(
        ("seconds", "text"),
        [
            (0.0, "0s"),
            (-3.0, "0s"),
            (0.0004, "1ms"),
            (0.2, "200ms"),
            (1.0, "1s"),
            (1.5, "1.5s"),
            (59.999, "59.999s"),
            (60.0, "1m0s"),
            (360.0, "6m0s"),
            (3723.25, "1h2m3.25s"),
        ],
    )
    def test_durations_are_go_style_like_openai_sends_them(self, seconds: float, text: str) -> None:
        assert format_duration(seconds) == text

    def test_exceeded_error_carries_the_decision_and_its_headers(self) -> None:
        decision = RateDecision(allowed=False, retry_after_s=2.0, which="tokens")
        error = RateLimitExceeded(decision)
        assert error.code == "rate_limited"
        assert error.decision is decision
        assert error.headers == {"Retry-After": "2"}
        assert "tokens" in str(error)


class TestRateLimits:
    @pytest.mark.parametrize(
        "fields", [{"requests": 0}, {"tokens": -1}, {"window_s": 0.0}, {"window_s": float("nan")}]
    )
    def test_rejects_nonsense(self, fields: dict[str, float]) -> None:
        with pytest.raises(msgspec.ValidationError):
            msgspec.convert(fields, RateLimits)

    def test_enabled_when_any_limit_is_set(self) -> None:
        assert not RateLimits().enabled
        assert RateLimits(tokens=10).enabled


class TestMemoryRateLimiter:
    async def test_is_a_rate_limiter(self) -> None:
        assert isinstance(MemoryRateLimiter(RateLimits()), RateLimiter)

    async def test_idle_subjects_are_forgotten(self) -> None:
        clock = ManualClock()
        limiter = MemoryRateLimiter(RateLimits(requests=5, window_s=60), clock=clock)
        for n in range(100):
            await limiter.check(f"client-{n}")
        assert limiter.tracked_subjects == 100
        clock.advance(60)
        await limiter.check("active")
        assert limiter.tracked_subjects == 1

    async def test_adjust_without_a_token_limit_keeps_no_state(self) -> None:
        limiter = MemoryRateLimiter(RateLimits(requests=5))
        await limiter.adjust("k", 500)
        assert limiter.tracked_subjects == 0
