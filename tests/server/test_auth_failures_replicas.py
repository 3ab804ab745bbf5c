"""Failed authentications count across replicas through one real Redis (issue 16, defect 15:
wrong-key attempts were limited per replica, so N replicas allowed N times the limit)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import aiohttp
import anyio
import msgspec
import pytest

from cache.redis_store import create_redis_client
from server.auth_failures import FailedAuthLimiter
from server.auth_failures_redis import RedisFailureLedger
from server.errors import APIError
from server.settings import AuthSettings
from tests.server.test_replicas_redis import replica_settings
from tests.support.cost_http import ACME_KEY, bearer
from tests.support.gateway import run_gateway
from tests.support.redis_server import ControllableRedisServer, RedisServer

pytestmark = pytest.mark.anyio

GUESSER = "127.0.0.3"


@pytest.fixture
async def two_limiters(redis_server: RedisServer) -> AsyncIterator[list[FailedAuthLimiter]]:
    namespace = f"authfail-{uuid.uuid4().hex[:8]}:"
    clients = [create_redis_client(redis_server.url, pool_size=2, timeout_s=2.0) for _ in "ab"]
    yield [
        FailedAuthLimiter(4, shared=RedisFailureLedger(c, namespace=namespace, op_timeout_s=2.0))
        for c in clients
    ]
    for client in clients:
        await client.aclose()


def refused(limiter: FailedAuthLimiter, address: str) -> bool:
    try:
        limiter.check(address)
    except APIError as exc:
        assert exc.code == "rate_limited" and int(exc.headers["Retry-After"]) >= 1
        return True
    return False


class TestSharedCount:
    async def test_failures_on_two_replicas_add_up_to_one_limit(
        self, two_limiters: list[FailedAuthLimiter]
    ) -> None:
        first, second = two_limiters
        for limiter in (first, second):
            limiter.record("10.0.0.1")
            limiter.record("10.0.0.1")
            assert not refused(limiter, "10.0.0.1")  # each replica alone: 2 of 4
        await first.sync()
        await second.sync()  # the fleet now has 4 failures from 10.0.0.1
        await first.sync()
        assert refused(first, "10.0.0.1") and refused(second, "10.0.0.1")
        assert not refused(first, "10.0.0.2") and not refused(second, "10.0.0.2")

    async def test_failures_made_while_redis_is_down_count_once_it_is_back(self) -> None:
        with ControllableRedisServer() as server:
            client = create_redis_client(server.url, pool_size=2, timeout_s=0.5)
            other_client = create_redis_client(server.url, pool_size=2, timeout_s=0.5)
            limiter = FailedAuthLimiter(3, shared=RedisFailureLedger(client, op_timeout_s=0.5))
            other = FailedAuthLimiter(3, shared=RedisFailureLedger(other_client, op_timeout_s=0.5))
            try:
                server.stop()
                for _ in range(3):
                    limiter.record("10.0.0.9")
                await limiter.sync()  # cannot reach Redis: kept
                assert refused(limiter, "10.0.0.9")  # the local count still applies
                server.start()
                await limiter.sync()
                await other.sync()
                assert refused(other, "10.0.0.9")
            finally:
                await client.aclose()
                await other_client.aclose()


class TestTwoGateways:
    async def test_a_guesser_spreading_over_replicas_is_refused_by_both(
        self, redis_server: RedisServer
    ) -> None:
        base = replica_settings(redis_server, f"authfail-{uuid.uuid4().hex[:8]}:")
        settings = msgspec.structs.replace(
            base,
            auth=AuthSettings(api_keys=(f"acme:{ACME_KEY}",), max_failures_per_minute=4),
        )
        guesser = aiohttp.TCPConnector(local_addr=(GUESSER, 0))
        async with (
            run_gateway(settings) as first,
            run_gateway(settings) as second,
            aiohttp.ClientSession(connector=guesser) as attacker,
            aiohttp.ClientSession() as honest,
        ):
            for gw in (first, second, first, second):  # 2 failures per replica, 4 in all
                async with attacker.post(
                    f"{gw.base_url}/chat",
                    json={"message": "hi"},
                    headers=bearer("guess-0123456789"),
                ) as response:
                    assert response.status == 401
            for gw in (first, second):
                # even the right key is refused from there, on both replicas, once they synced
                with anyio.fail_after(10):
                    while True:
                        async with attacker.post(
                            f"{gw.base_url}/chat", json={"message": "hi"}, headers=bearer(ACME_KEY)
                        ) as response:
                            if response.status == 429:
                                break
                            assert response.status == 200
                        await anyio.sleep(0.05)
                async with honest.post(
                    f"{gw.base_url}/chat", json={"message": "hi"}, headers=bearer(ACME_KEY)
                ) as response:
                    assert response.status == 200  # other addresses are served
