"""What only the Redis limiter does: one limit across replicas, its keys, server time, fail-open."""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import AsyncIterator, Iterator

import anyio
import pytest
import redis.asyncio as redis

from cache.redis_store import create_redis_client
from metrics.rate_limit import RateLimiter, RateLimits
from metrics.rate_limit_memory import MemoryRateLimiter
from metrics.rate_limit_redis import RedisRateLimiter
from tests.support.redis_server import ControllableRedisServer, RedisServer

pytestmark = pytest.mark.anyio

LOGGER = "metrics.rate_limit_redis"


@pytest.fixture
async def clients(redis_server: RedisServer) -> AsyncIterator[tuple[redis.Redis, redis.Redis]]:
    """Two clients with their own pools, as two replicas would have."""
    first = create_redis_client(redis_server.url, pool_size=16, timeout_s=2.0)
    second = create_redis_client(redis_server.url, pool_size=16, timeout_s=2.0)
    yield first, second
    await first.aclose()
    await second.aclose()


@pytest.fixture
def own_server() -> Iterator[ControllableRedisServer]:
    """A server only this test uses, so stopping or freezing it hurts nobody else."""
    with ControllableRedisServer() as server:
        yield server


def _namespace() -> str:
    return f"test:{uuid.uuid4().hex}:"


class TestSharedAcrossReplicas:
    async def test_two_replicas_under_concurrent_load_admit_one_limit(
        self, clients: tuple[redis.Redis, redis.Redis]
    ) -> None:
        namespace = _namespace()
        limits = RateLimits(requests=30, window_s=60)
        replicas = [
            RedisRateLimiter(c, limits, namespace=namespace, op_timeout_s=2.0) for c in clients
        ]
        outcomes: list[bool] = []

        async def request(limiter: RedisRateLimiter) -> None:
            decision = await limiter.check("tenant-key", 5)
            assert not decision.degraded
            outcomes.append(decision.allowed)

        async with anyio.create_task_group() as tg:
            for n in range(100):
                tg.start_soon(request, replicas[n % 2])
        assert len(outcomes) == 100
        assert outcomes.count(True) == 30
        # Both replicas now see the same exhausted window.
        for limiter in replicas:
            decision = await limiter.check("tenant-key")
            assert not decision.allowed
            assert decision.requests is not None and decision.requests.remaining == 0
            assert decision.tokens is None

    async def test_tokens_adjusted_on_one_replica_count_on_the_other(
        self, clients: tuple[redis.Redis, redis.Redis]
    ) -> None:
        namespace = _namespace()
        limits = RateLimits(tokens=1000)
        a, b = (RedisRateLimiter(c, limits, namespace=namespace) for c in clients)
        assert (await a.check("k", 600)).allowed
        await b.adjust("k", 300)
        refused = await a.check("k", 200)
        assert not refused.allowed and refused.which == "tokens"
        assert refused.tokens is not None and refused.tokens.remaining == 100
        assert refused.retry_after_s is not None and 59.0 < refused.retry_after_s <= 60.0


class TestKeys:
    async def test_keys_are_namespaced_hashed_and_expire(
        self, clients: tuple[redis.Redis, redis.Redis]
    ) -> None:
        raw = clients[0]
        namespace = _namespace()
        subject = "sk-live-secret-api-key"
        limiter = RedisRateLimiter(
            raw, RateLimits(requests=5, tokens=100, window_s=60), namespace=namespace
        )
        await limiter.check(subject, 10)
        await limiter.adjust(subject, 5)
        keys = sorted(
            k.decode() if isinstance(k, bytes) else k for k in await raw.keys(namespace + "*")
        )
        assert len(keys) == 2
        assert all(k.startswith(namespace + "rl:{") for k in keys)
        assert not any(subject in k for k in keys)
        for key in keys:
            assert 60_000 < await raw.pttl(key) <= 61_000

    async def test_lost_totals_are_rebuilt_from_the_log(
        self, clients: tuple[redis.Redis, redis.Redis]
    ) -> None:
        raw = clients[0]
        namespace = _namespace()
        limiter = RedisRateLimiter(raw, RateLimits(requests=3, tokens=100), namespace=namespace)
        await limiter.check("k", 10)
        await limiter.adjust("k", 20)
        await limiter.check("k", 30)
        (totals,) = await raw.keys(namespace + "*:sum")
        await raw.delete(totals)  # as maxmemory eviction could
        decision = await limiter.check("k", 5)
        assert decision.allowed
        assert decision.requests is not None and decision.requests.remaining == 0
        assert decision.tokens is not None and decision.tokens.remaining == 100 - 65
        assert decision.requests.reset_after_s > 59.0
        assert not (await limiter.check("k")).allowed
        assert limiter.errors_total == 0

    async def test_uses_redis_time_when_no_clock_is_given(
        self, clients: tuple[redis.Redis, redis.Redis]
    ) -> None:
        limiter = RedisRateLimiter(
            clients[0], RateLimits(requests=1, window_s=0.1), namespace=_namespace()
        )
        assert (await limiter.check("k")).allowed
        refused = await limiter.check("k")
        assert not refused.allowed
        assert refused.retry_after_s is not None and 0.0 <= refused.retry_after_s <= 0.1
        await anyio.sleep(0.12)
        assert (await limiter.check("k")).allowed


class TestFailOpen:
    async def test_redis_down_admits_counts_logs_once_and_recovers(
        self, own_server: ControllableRedisServer, caplog: pytest.LogCaptureFixture
    ) -> None:
        client = create_redis_client(own_server.url, pool_size=4, timeout_s=0.5)
        limiter = RedisRateLimiter(client, RateLimits(requests=1, tokens=100), op_timeout_s=1.0)
        try:
            assert (await limiter.check("k")).allowed
            assert not (await limiter.check("k")).allowed

            await anyio.to_thread.run_sync(own_server.stop)
            with caplog.at_level(logging.INFO, logger=LOGGER):
                for _ in range(3):
                    decision = await limiter.check("k", 10)
                    assert decision.allowed and decision.degraded
                    assert decision.requests is None and decision.tokens is None
                await limiter.adjust("k", 50)
                assert limiter.errors_total == 4

                # Same port, empty data: limits apply again at once.
                await anyio.to_thread.run_sync(own_server.start)
                back = await limiter.check("k")
                assert back.allowed and not back.degraded
                assert not (await limiter.check("k")).allowed
            warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
            infos = [r for r in caplog.records if r.levelno == logging.INFO]
            assert len(warnings) == 1
            assert "admitting every request" in warnings[0].getMessage()
            assert len(infos) == 1
            assert limiter.errors_total == 4
        finally:
            await client.aclose()

    async def test_every_failure_is_logged_when_the_interval_is_zero(
        self, own_server: ControllableRedisServer, caplog: pytest.LogCaptureFixture
    ) -> None:
        client = create_redis_client(own_server.url, pool_size=2, timeout_s=0.5)
        limiter = RedisRateLimiter(client, RateLimits(requests=1), log_interval_s=0.0)
        await anyio.to_thread.run_sync(own_server.stop)
        try:
            with caplog.at_level(logging.WARNING, logger=LOGGER):
                for _ in range(3):
                    await limiter.check("k")
            assert len(caplog.records) == 3
        finally:
            await client.aclose()

    async def test_a_local_fallback_limits_while_redis_is_down(
        self, own_server: ControllableRedisServer
    ) -> None:
        client = create_redis_client(own_server.url, pool_size=2, timeout_s=0.5)
        fallback: RateLimiter = MemoryRateLimiter(RateLimits(requests=2))
        limiter = RedisRateLimiter(client, RateLimits(requests=100), fallback=fallback)
        await anyio.to_thread.run_sync(own_server.stop)
        try:
            decisions = [await limiter.check("k") for _ in range(3)]
            assert [d.allowed for d in decisions] == [True, True, False]
            assert all(d.degraded for d in decisions)
            assert decisions[2].which == "requests"
        finally:
            await client.aclose()

    async def test_a_hung_redis_admits_within_the_op_timeout(
        self, own_server: ControllableRedisServer
    ) -> None:
        # The socket timeout is long on purpose: the op timeout alone must bound the wait.
        client = create_redis_client(own_server.url, pool_size=2, timeout_s=5.0)
        limiter = RedisRateLimiter(client, RateLimits(requests=1), op_timeout_s=0.2)
        try:
            assert (await limiter.check("k")).allowed
            own_server.pause()
            started = time.monotonic()
            decision = await limiter.check("k")
            assert decision.allowed and decision.degraded
            assert time.monotonic() - started < 2.0
            assert limiter.errors_total == 1
        finally:
            own_server.resume()
            await client.aclose()
