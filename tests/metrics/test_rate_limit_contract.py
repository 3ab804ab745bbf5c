"""What every RateLimiter backend must do, run against memory and a real Redis on a manual clock."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable

import anyio
import pytest

from agent.testing import ManualClock
from cache.redis_store import create_redis_client
from metrics.rate_limit import RateLimiter, RateLimits, rate_limit_headers
from metrics.rate_limit_memory import MemoryRateLimiter
from metrics.rate_limit_redis import RedisRateLimiter
from tests.support.redis_server import RedisServer

pytestmark = pytest.mark.anyio

# A realistic wall-clock start: the Redis backend is fed milliseconds since the epoch.
T0 = 1_700_000_000.0

MakeLimiter = Callable[[RateLimits], RateLimiter]


@pytest.fixture(params=["memory", "redis"])
async def make(request: pytest.FixtureRequest, clock: ManualClock) -> AsyncIterator[MakeLimiter]:
    if request.param == "memory":
        yield lambda limits: MemoryRateLimiter(limits, clock=clock)
        return
    server: RedisServer = request.getfixturevalue("redis_server")
    client = create_redis_client(server.url, pool_size=8, timeout_s=2.0)
    namespace = f"test:{uuid.uuid4().hex}:"
    made: list[RedisRateLimiter] = []

    def redis_limiter(limits: RateLimits) -> RateLimiter:
        made.append(
            RedisRateLimiter(client, limits, namespace=namespace, clock=clock, op_timeout_s=2.0)
        )
        return made[-1]

    try:
        yield redis_limiter
        # Failing open would hide a broken script behind "allowed": none may have happened.
        assert [limiter.errors_total for limiter in made] == [0] * len(made)
    finally:
        await client.aclose()


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(start=T0)


class TestRequestWindow:
    async def test_admits_up_to_the_limit_then_refuses_until_the_oldest_leaves(
        self, make: MakeLimiter, clock: ManualClock
    ) -> None:
        limiter = make(RateLimits(requests=3, window_s=60))
        remaining = []
        for _ in range(3):
            decision = await limiter.check("key-a")
            assert decision.allowed and decision.which is None
            assert decision.requests is not None
            remaining.append(decision.requests.remaining)
            clock.advance(10)
        assert remaining == [2, 1, 0]

        refused = await limiter.check("key-a")  # t0 + 30
        assert not refused.allowed
        assert refused.which == "requests"
        assert refused.retry_after_s == pytest.approx(30.0, abs=1e-3)
        clock.advance(29.999)
        refused = await limiter.check("key-a")  # 1 ms before the first request leaves
        assert not refused.allowed
        assert refused.retry_after_s == pytest.approx(0.001, abs=1e-4)
        clock.advance(0.001)
        assert (await limiter.check("key-a")).allowed  # exactly one window after the first
        assert not (await limiter.check("key-a")).allowed

    async def test_refused_requests_are_not_counted(
        self, make: MakeLimiter, clock: ManualClock
    ) -> None:
        limiter = make(RateLimits(requests=1, window_s=60))
        assert (await limiter.check("k")).allowed
        for _ in range(5):
            clock.advance(10)
            assert not (await limiter.check("k")).allowed
        clock.advance(10)  # t0 + 60: only the admitted request ever counted
        assert (await limiter.check("k")).allowed

    async def test_subjects_do_not_share_a_window(self, make: MakeLimiter) -> None:
        limiter = make(RateLimits(requests=1))
        assert (await limiter.check("key-a")).allowed
        assert (await limiter.check("key-b")).allowed
        assert not (await limiter.check("key-a")).allowed

    async def test_reset_is_when_the_newest_request_leaves(
        self, make: MakeLimiter, clock: ManualClock
    ) -> None:
        limiter = make(RateLimits(requests=5, tokens=100, window_s=60))
        await limiter.check("k", 10)
        clock.advance(15)
        decision = await limiter.check("k", 20)
        assert decision.requests is not None and decision.tokens is not None
        assert decision.requests.remaining == 3
        assert decision.requests.reset_after_s == pytest.approx(60.0)
        assert decision.tokens.remaining == 70
        clock.advance(50)  # t0 + 65: only the second request is left
        decision = await limiter.check("k", 0)
        assert decision.requests is not None and decision.tokens is not None
        assert decision.requests.remaining == 3
        assert decision.requests.reset_after_s == pytest.approx(60.0)
        assert decision.tokens.remaining == 80
        assert decision.tokens.reset_after_s == pytest.approx(10.0)

    async def test_concurrent_checks_admit_exactly_the_limit(self, make: MakeLimiter) -> None:
        limiter = make(RateLimits(requests=30))
        results: list[bool] = []

        async def one() -> None:
            results.append((await limiter.check("busy")).allowed)

        async with anyio.create_task_group() as tg:
            for _ in range(100):
                tg.start_soon(one)
        assert results.count(True) == 30


class TestTokenBudget:
    async def test_admits_on_the_estimate_and_adjust_adds_the_completion(
        self, make: MakeLimiter, clock: ManualClock
    ) -> None:
        limiter = make(RateLimits(tokens=1000, window_s=60))
        first = await limiter.check("k", 600)
        assert first.allowed and first.tokens is not None and first.tokens.remaining == 400
        clock.advance(10)
        await limiter.adjust("k", 300)  # the completion of the first call
        clock.advance(10)
        refused = await limiter.check("k", 200)
        assert not refused.allowed and refused.which == "tokens"
        # 100 tokens must leave: the 600 charged at t0 do so at t0 + 60.
        assert refused.retry_after_s == pytest.approx(40.0, abs=1e-3)
        assert refused.tokens is not None and refused.tokens.remaining == 100
        fits = await limiter.check("k", 100)
        assert fits.allowed and fits.tokens is not None and fits.tokens.remaining == 0
        clock.advance(40)  # the 600 have left; the adjusted 300 stay until t0 + 70
        after = await limiter.check("k", 0)
        assert after.tokens is not None and after.tokens.remaining == 600

    async def test_a_request_larger_than_the_limit_can_never_be_admitted(
        self, make: MakeLimiter
    ) -> None:
        limiter = make(RateLimits(requests=10, tokens=100))
        refused = await limiter.check("k", 101)
        assert not refused.allowed
        assert refused.which == "tokens"
        assert refused.retry_after_s is None
        assert "Retry-After" not in rate_limit_headers(refused)
        assert (await limiter.check("k", 100)).allowed

    async def test_retry_after_follows_the_limit_that_binds_longest(
        self, make: MakeLimiter, clock: ManualClock
    ) -> None:
        limiter = make(RateLimits(requests=2, tokens=1000, window_s=60))
        await limiter.check("k", 50)
        clock.advance(30)
        await limiter.check("k", 900)
        clock.advance(10)
        # The request slot frees at t0 + 60 (in 20 s); 150 tokens only at t0 + 90 (in 50 s).
        refused = await limiter.check("k", 200)
        assert refused.which == "tokens"
        assert refused.retry_after_s == pytest.approx(50.0, abs=1e-3)
        # A small request is held back by the request limit alone.
        refused = await limiter.check("k", 10)
        assert refused.which == "requests"
        assert refused.retry_after_s == pytest.approx(20.0, abs=1e-3)

    async def test_negative_tokens_are_refused_as_a_bug(self, make: MakeLimiter) -> None:
        limiter = make(RateLimits(tokens=10))
        with pytest.raises(ValueError):
            await limiter.check("k", -1)
        with pytest.raises(ValueError):
            await limiter.adjust("k", -1)


async def test_without_limits_everything_is_admitted(make: MakeLimiter) -> None:
    limiter = make(RateLimits())
    for _ in range(50):
        decision = await limiter.check("k", 10_000)
        assert decision.allowed
    assert decision.requests is None and decision.tokens is None
    assert rate_limit_headers(decision) == {}
