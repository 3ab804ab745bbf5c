"""FailOpenStore: a Redis outage turns into misses, and caching comes back on its own."""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import AsyncIterator, Sequence

import anyio
import pytest

from cache.base import TTLStore
from cache.errors import StoreUnavailable
from cache.failopen import FailOpenStore
from cache.memory import MemoryTTLStore
from cache.redis_store import RedisTTLStore, create_redis_client
from tests.cache.test_store_contract import FakeClock
from tests.support.redis_server import ControllableRedisServer

pytestmark = pytest.mark.anyio


class SwitchableStore:
    """A `TTLStore` over memory that can be switched off: our own seam, not a Redis fake."""

    def __init__(self) -> None:
        self.inner = MemoryTTLStore()
        self.down = False

    def _check(self) -> None:
        if self.down:
            raise StoreUnavailable("switched off")

    async def get(self, key: str) -> bytes | None:
        self._check()
        return await self.inner.get(key)

    async def set(
        self, key: str, value: bytes, ttl: float | None, *, tags: Sequence[str] = ()
    ) -> None:
        self._check()
        await self.inner.set(key, value, ttl, tags=tags)

    async def delete(self, key: str) -> bool:
        self._check()
        return await self.inner.delete(key)

    async def delete_many(self, keys: Sequence[str]) -> int:
        self._check()
        return await self.inner.delete_many(keys)

    async def delete_tag(self, tag: str) -> int:
        self._check()
        return await self.inner.delete_tag(tag)

    async def incr_by(self, key: str, amount: int, ttl: float | None) -> int:
        self._check()
        return await self.inner.incr_by(key, amount, ttl)


@pytest.fixture
async def outage_server() -> AsyncIterator[ControllableRedisServer]:
    server = ControllableRedisServer()
    await anyio.to_thread.run_sync(server.start)
    try:
        yield server
    finally:
        await anyio.to_thread.run_sync(server.__exit__, None, None, None)


class TestFailOpenStore:
    async def test_is_a_ttl_store(self) -> None:
        assert isinstance(FailOpenStore(MemoryTTLStore()), TTLStore)

    async def test_passes_results_through_while_healthy(self) -> None:
        store = FailOpenStore(MemoryTTLStore())
        await store.set("k", b"v", None, tags=["t"])
        assert await store.get("k") == b"v"
        assert await store.incr_by("n", 2, None) == 2
        assert await store.delete_tag("t") == 1
        assert await store.delete_many(["n"]) == 1
        assert await store.delete("n") is False
        assert store.errors_total == 0

    async def test_outage_answers_misses_and_counts_errors(self) -> None:
        inner = SwitchableStore()
        store = FailOpenStore(inner)
        await store.set("k", b"v", None)
        inner.down = True
        assert await store.get("k") is None
        await store.set("k2", b"v", None)
        assert await store.delete("k") is False
        assert await store.delete_many(["k"]) == 0
        assert await store.delete_tag("t") == 0
        assert store.errors_total == 5

    async def test_incr_by_re_raises_so_callers_pick_a_local_policy(self) -> None:
        inner = SwitchableStore()
        store = FailOpenStore(inner)
        inner.down = True
        with pytest.raises(StoreUnavailable):
            await store.incr_by("budget", 1, None)
        assert store.errors_total == 1

    async def test_logs_at_most_once_per_interval_and_once_on_recovery(
        self, caplog: pytest.LogCaptureFixture
    ) -> None:
        clock = FakeClock()
        inner = SwitchableStore()
        store = FailOpenStore(inner, log_interval_s=30, clock=clock)
        inner.down = True
        with caplog.at_level(logging.INFO, logger="cache.failopen"):
            for _ in range(5):
                await store.get("k")
            clock.now += 31
            for _ in range(3):
                await store.get("k")
            inner.down = False
            await store.get("k")
            await store.get("k")
        warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
        infos = [r for r in caplog.records if r.levelno == logging.INFO]
        assert len(warnings) == 2
        # The second report counts the four silent failures plus its own.
        assert "5 errors since last report" in warnings[1].getMessage()
        assert len(infos) == 1
        assert store.errors_total == 8

    async def test_redis_outage_serves_misses_then_resumes_on_restart(
        self, outage_server: ControllableRedisServer
    ) -> None:
        client = create_redis_client(outage_server.url, pool_size=4, timeout_s=0.5)
        store = FailOpenStore(
            RedisTTLStore(client, namespace=f"test:{uuid.uuid4().hex}:", op_timeout_s=1.0)
        )
        try:
            await store.set("k", b"before", 60)
            assert await store.get("k") == b"before"

            await anyio.to_thread.run_sync(outage_server.stop)
            assert await store.get("k") is None
            await store.set("k", b"during", 60)
            assert await store.delete_tag("t") == 0
            with pytest.raises(StoreUnavailable):
                await store.incr_by("n", 1, None)
            assert store.errors_total == 4

            # Same port, empty data: the same store must simply work again.
            await anyio.to_thread.run_sync(outage_server.start)
            await store.set("k", b"after", 60)
            assert await store.get("k") == b"after"
            assert store.errors_total == 4
        finally:
            await client.aclose()

    async def test_hung_redis_becomes_a_miss_within_the_op_timeout(
        self, outage_server: ControllableRedisServer
    ) -> None:
        client = create_redis_client(outage_server.url, pool_size=2, timeout_s=5.0)
        store = FailOpenStore(RedisTTLStore(client, op_timeout_s=0.2))
        try:
            await store.set("k", b"v", 60)
            outage_server.pause()
            started = time.monotonic()
            assert await store.get("k") is None
            assert time.monotonic() - started < 2.0
            assert store.errors_total == 1
        finally:
            outage_server.resume()
            await client.aclose()
