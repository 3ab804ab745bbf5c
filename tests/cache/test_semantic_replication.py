"""RedisSemanticReplicator: replicas on one real Redis share one semantic cache, fail open."""

from __future__ import annotations

import hashlib
import logging
import re
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager

import anyio
import numpy as np
import numpy.typing as npt
import pytest
import redis.asyncio as redis

from cache.normalize import normalize_text
from cache.redis_store import create_redis_client
from cache.semantic_cache import SemanticCache, entry_id
from cache.semantic_replication import RedisSemanticReplicator
from cache.semantic_wire import SemanticWire
from tests.support.redis_server import ControllableRedisServer, RedisServer

pytestmark = pytest.mark.anyio

TENANT = "acme"
TIER = "cheap"


class WordHashEmbedder:
    """Deterministic bag of words: each word hashed to a signed axis of a 64-d vector."""

    dim = 64

    def __init__(self, name: str = "word-hash") -> None:
        self.name = name

    async def embed(self, texts: Sequence[str]) -> npt.NDArray[np.float32]:
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for row, text in enumerate(texts):
            for word in re.findall(r"[a-z0-9]+", text.lower()):
                digest = hashlib.blake2b(word.encode(), digest_size=2).digest()
                out[row, digest[0] % self.dim] += 1.0 if digest[1] % 2 else -1.0
            out[row] /= np.linalg.norm(out[row]) or 1.0
        return out


class Replica:
    """One "process": its own Redis client, cache and replicator."""

    def __init__(self, cache: SemanticCache, replicator: RedisSemanticReplicator) -> None:
        self.cache = cache
        self.replicator = replicator

    async def store(self, query: str, payload: bytes, ttl_s: float = 60.0) -> None:
        assert await self.cache.store(query, payload, tenant=TENANT, tier=TIER, ttl_s=ttl_s)

    async def answer(self, query: str) -> bytes | None:
        found = await self.cache.lookup(query, tenant=TENANT, tier=TIER)
        return found.entry.payload if found.entry is not None else None


@asynccontextmanager
async def replica(
    url: str, namespace: str, *, embedder: str = "word-hash", **options: float
) -> AsyncIterator[Replica]:
    client = create_redis_client(url, pool_size=4, timeout_s=0.5)
    replicator = RedisSemanticReplicator(
        client,
        embedder_name=embedder,
        namespace=namespace,
        poll_block_ms=100,
        max_backoff_s=0.2,
        **options,  # type: ignore[arg-type]
    )
    cache = SemanticCache(WordHashEmbedder(embedder), threshold=0.8, on_store=replicator.publish)
    try:
        async with replicator.running(cache):
            yield Replica(cache, replicator)
    finally:
        await client.aclose()


async def eventually(check: Callable[[], Awaitable[bool]], within_s: float) -> float:
    """Poll ``check`` until it holds; return how long that took, fail after ``within_s``."""
    start = time.monotonic()
    while not await check():
        if time.monotonic() - start > within_s:
            raise AssertionError(f"condition not met within {within_s}s")
        await anyio.sleep(0.01)
    return time.monotonic() - start


def entry_key(namespace: str, query: str, embedder: str = "word-hash") -> str:
    return SemanticWire(namespace).entry_key(
        entry_id(TENANT, TIER, embedder, normalize_text(query))
    )


@pytest.fixture
def namespace() -> str:
    return f"t{uuid.uuid4().hex[:12]}:"


@pytest.fixture
async def client(redis_server: RedisServer) -> AsyncIterator[redis.Redis]:
    client = create_redis_client(redis_server.url, pool_size=2, timeout_s=1.0)
    yield client
    await client.aclose()


class TestReplication:
    async def test_entry_stored_on_one_replica_hits_on_another_within_a_second(
        self, redis_server: RedisServer, namespace: str
    ) -> None:
        async with (
            replica(redis_server.url, namespace) as a,
            replica(redis_server.url, namespace) as b,
        ):
            await a.store("How do I reset my password?", b"reset-answer")

            async def hit_on_b() -> bool:
                return await b.answer("how do i reset my password") == b"reset-answer"

            assert await eventually(hit_on_b, within_s=1.0) < 1.0

    async def test_replica_started_later_loads_live_entries(
        self, redis_server: RedisServer, namespace: str, client: redis.Redis
    ) -> None:
        async with replica(redis_server.url, namespace) as a:
            await a.store("What are your opening hours?", b"hours", ttl_s=120)
            await a.store("Where is my parcel?", b"parcel")
        # A has flushed its writes on exit; its entry carries the TTL in Redis.
        ttl_ms = await client.pttl(entry_key(namespace, "What are your opening hours?"))
        assert 100_000 < ttl_ms <= 120_000
        async with replica(redis_server.url, namespace) as c:
            assert c.replicator.applied_total == 2
            assert await c.answer("what are your opening hours") == b"hours"
            assert await c.answer("where is my parcel") == b"parcel"

    async def test_ttl_expires_on_every_replica_and_in_redis(
        self, redis_server: RedisServer, namespace: str, client: redis.Redis
    ) -> None:
        async with (
            replica(redis_server.url, namespace) as a,
            replica(redis_server.url, namespace) as b,
        ):
            await a.store("Is the sale still on?", b"yes", ttl_s=0.5)

            async def hit_on_b() -> bool:
                return await b.answer("is the sale still on") == b"yes"

            await eventually(hit_on_b, within_s=1.0)
            await anyio.sleep(0.6)
            assert await a.answer("is the sale still on") is None
            assert await b.answer("is the sale still on") is None
            assert await client.exists(entry_key(namespace, "Is the sale still on?")) == 0

    async def test_own_writes_are_not_applied_again(
        self, redis_server: RedisServer, namespace: str
    ) -> None:
        async with (
            replica(redis_server.url, namespace) as a,
            replica(redis_server.url, namespace) as b,
        ):
            await a.store("How do I change my email?", b"email")
            await b.store("How do I close my account?", b"close")

            async def both_applied_one() -> bool:
                return a.replicator.applied_total == 1 and b.replicator.applied_total == 1

            await eventually(both_applied_one, within_s=1.0)
            await anyio.sleep(0.3)  # a second application would land within this
            assert (a.replicator.applied_total, b.replicator.applied_total) == (1, 1)
            assert a.replicator.published_total == b.replicator.published_total == 1
            assert await a.answer("how do i close my account") == b"close"

    async def test_invalidation_reaches_every_replica_and_redis(
        self, redis_server: RedisServer, namespace: str, client: redis.Redis
    ) -> None:
        async with (
            replica(redis_server.url, namespace) as a,
            replica(redis_server.url, namespace) as b,
        ):
            await a.store("What is the refund policy?", b"30 days")

            async def on_b() -> bool:
                return await b.answer("what is the refund policy") is not None

            await eventually(on_b, within_s=1.0)
            assert await b.replicator.invalidate(
                "What is the refund policy?", tenant=TENANT, tier=TIER
            )

            async def gone_from_a() -> bool:
                return await a.answer("what is the refund policy") is None

            await eventually(gone_from_a, within_s=1.0)
            assert await b.answer("what is the refund policy") is None
            assert await client.exists(entry_key(namespace, "What is the refund policy?")) == 0

    async def test_entries_of_another_embedder_or_garbage_are_not_loaded(
        self, redis_server: RedisServer, namespace: str, client: redis.Redis
    ) -> None:
        async with replica(redis_server.url, namespace, embedder="other-model") as other:
            await other.store("Where is my parcel?", b"parcel")
        await client.set(namespace + "sem:junk", b"\xc1 not msgpack", px=60_000)
        async with replica(redis_server.url, namespace) as c:

            async def loaded() -> bool:  # a loaded machine may time the first load out
                return c.replicator.rejected_total == 1

            await eventually(loaded, within_s=10)
            assert c.replicator.applied_total == 0
            assert c.cache.entry_count == 0

    async def test_not_running_means_process_local(self, client: redis.Redis) -> None:
        replicator = RedisSemanticReplicator(client, embedder_name="word-hash")
        cache = SemanticCache(WordHashEmbedder(), threshold=0.8, on_store=replicator.publish)
        assert await cache.store("Hello there", b"hi", tenant=TENANT, tier=TIER, ttl_s=60)
        found = await cache.lookup("hello there", tenant=TENANT, tier=TIER)
        assert found.entry is not None and found.entry.payload == b"hi"
        assert (replicator.dropped_total, replicator.published_total) == (1, 0)


class TestOutages:
    async def test_stopped_redis_fails_open_and_replication_resumes_after_restart(
        self, namespace: str, caplog: pytest.LogCaptureFixture
    ) -> None:
        caplog.set_level(logging.INFO, logger="cache.semantic_replication")
        with ControllableRedisServer() as server:
            async with (
                replica(server.url, namespace, op_timeout_s=0.2) as a,
                replica(server.url, namespace, op_timeout_s=0.2) as b,
            ):
                server.stop()
                await a.store("How do I reset my password?", b"local-only")
                assert await a.answer("how do i reset my password") == b"local-only"

                async def errors_counted() -> bool:
                    return a.replicator.errors_total >= 3 and a.replicator.dropped_total == 1

                await eventually(errors_counted, within_s=5.0)
                warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
                # Logged once per replica per interval, not once per error.
                assert (
                    1 <= len(warnings) <= 2 < a.replicator.errors_total + b.replicator.errors_total
                )

                server.start()  # same port, empty data
                await a.store("What are your opening hours?", b"hours")

                async def hit_on_b() -> bool:
                    return await b.answer("what are your opening hours") == b"hours"

                await eventually(hit_on_b, within_s=5.0)
                assert any("resumed" in r.getMessage() for r in caplog.records)

    async def test_paused_redis_never_blocks_requests_or_shutdown(self, namespace: str) -> None:
        with ControllableRedisServer() as server:
            started = time.monotonic()
            async with replica(server.url, namespace, op_timeout_s=0.2, flush_timeout_s=0.3) as a:
                server.pause()
                before = time.monotonic()
                for n in range(5):
                    await a.store(f"question number {n} about parcels", b"answer")
                assert await a.answer("question number 3 about parcels") == b"answer"
                assert time.monotonic() - before < 0.5

                async def timed_out() -> bool:
                    return a.replicator.errors_total >= 2

                await eventually(timed_out, within_s=3.0)
                exiting = time.monotonic()
            # Exit with Redis still frozen: bounded flush, tail cancelled.
            assert time.monotonic() - exiting < 2.0
            assert a.replicator.published_total == 0
            assert time.monotonic() - started < 10.0
            server.resume()
