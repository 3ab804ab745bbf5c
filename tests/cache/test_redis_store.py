"""What only the Redis store does: namespacing, tag-set TTLs, error translation and timeouts."""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator, Iterator

import anyio
import pytest
import redis.asyncio as redis

from cache.errors import StoreUnavailable
from cache.keys import TAG_PREFIX
from cache.redis_store import RedisTTLStore, create_redis_client
from tests.support.redis_server import ControllableRedisServer, RedisServer

pytestmark = pytest.mark.anyio


@pytest.fixture
async def raw(redis_server: RedisServer) -> AsyncIterator[redis.Redis]:
    client = create_redis_client(redis_server.url, pool_size=4, timeout_s=2.0)
    yield client
    await client.aclose()


@pytest.fixture
def own_server() -> Iterator[ControllableRedisServer]:
    """A server only this test uses, so stopping or freezing it hurts nobody else."""
    with ControllableRedisServer() as server:
        yield server


def _namespace() -> str:
    return f"test:{uuid.uuid4().hex}:"


class TestRedisTTLStore:
    async def test_keys_live_under_the_namespace(self, raw: redis.Redis) -> None:
        namespace = _namespace()
        store = RedisTTLStore(raw, namespace=namespace)
        await store.set("prompt:abc", b"v", 60)
        assert store.namespace == namespace
        assert await raw.get(namespace + "prompt:abc") == b"v"
        assert await raw.get("prompt:abc") is None

    async def test_stores_in_other_namespaces_do_not_see_each_other(self, raw: redis.Redis) -> None:
        first = RedisTTLStore(raw, namespace=_namespace())
        second = RedisTTLStore(raw, namespace=_namespace())
        await first.set("k", b"1", 60, tags=["t"])
        assert await second.get("k") is None
        assert await second.delete_tag("t") == 0
        assert await first.get("k") == b"1"

    async def test_tag_set_lives_at_least_as_long_as_its_longest_key(
        self, raw: redis.Redis
    ) -> None:
        namespace = _namespace()
        store = RedisTTLStore(raw, namespace=namespace)
        tag_key = namespace + TAG_PREFIX + "doc"
        await store.set("long", b"v", 100, tags=["doc"])
        await store.set("short", b"v", 10, tags=["doc"])
        assert 99_000 < await raw.pttl(tag_key) <= 100_000
        await store.set("forever", b"v", None, tags=["doc"])
        assert await raw.pttl(tag_key) == -1
        assert set(await raw.smembers(tag_key)) == {
            (namespace + k).encode() for k in ("long", "short", "forever")
        }

    async def test_a_redis_error_becomes_store_unavailable(self, raw: redis.Redis) -> None:
        store = RedisTTLStore(raw, namespace=_namespace())
        await store.set("k", b"text", None)
        with pytest.raises(StoreUnavailable) as caught:
            await store.incr_by("k", 1, None)
        assert isinstance(caught.value.__cause__, redis.ResponseError)

    async def test_ping_answers_true(self, raw: redis.Redis) -> None:
        assert await RedisTTLStore(raw).ping() is True

    async def test_unreachable_server_raises_store_unavailable(
        self, own_server: ControllableRedisServer
    ) -> None:
        store = RedisTTLStore(
            create_redis_client(own_server.url, pool_size=2, timeout_s=0.5), op_timeout_s=1.0
        )
        await anyio.to_thread.run_sync(own_server.stop)
        try:
            with pytest.raises(StoreUnavailable):
                await store.get("k")
            with pytest.raises(StoreUnavailable):
                await store.set("k", b"v", 1, tags=["t"])
            with pytest.raises(StoreUnavailable):
                await store.delete_tag("t")
        finally:
            await store.aclose()

    async def test_a_hung_server_times_out_as_store_unavailable(
        self, own_server: ControllableRedisServer
    ) -> None:
        client = create_redis_client(own_server.url, pool_size=2, timeout_s=5.0)
        # The socket timeout is long on purpose: the op timeout alone must bound the wait.
        store = RedisTTLStore(client, namespace=_namespace(), op_timeout_s=0.2)
        try:
            await store.set("k", b"v", 60)
            own_server.pause()
            started = time.monotonic()
            with pytest.raises(StoreUnavailable, match="took longer"):
                await store.get("k")
            assert time.monotonic() - started < 2.0
            own_server.resume()
            assert await store.get("k") == b"v"
        finally:
            own_server.resume()
            await store.aclose()

    async def test_client_uses_a_bounded_pool(self) -> None:
        client = create_redis_client("redis://127.0.0.1:1/0", pool_size=7, timeout_s=0.3)
        pool = client.connection_pool
        assert pool.max_connections == 7
        assert pool.connection_kwargs["socket_timeout"] == 0.3
        assert pool.connection_kwargs["health_check_interval"] > 0
        await client.aclose()

    async def test_rejects_a_non_positive_op_timeout(self, raw: redis.Redis) -> None:
        with pytest.raises(ValueError, match="op_timeout_s"):
            RedisTTLStore(raw, op_timeout_s=0)
