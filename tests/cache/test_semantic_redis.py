"""The semantic cache on Redis's vector index (`RedisVectorBackend`), against a real Valkey 8.1
with the RediSearch module: insert, KNN within a partition, TTL expiry, invalidation by tag,
two caches sharing one index, and the same guards as the in-process backend."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Awaitable, Callable

import anyio
import numpy as np
import pytest
import redis.asyncio as redis

from cache.semantic_backend import MemoryBackend, SemanticEntry
from cache.semantic_cache import SemanticCache, entry_id
from cache.semantic_redis import RedisVectorBackend, has_query_engine
from tests.cache.test_semantic_cache import HashingEmbedder, non_ascii_ratio
from tests.support.redis_server import RedisServer

pytestmark = pytest.mark.anyio


@pytest.fixture
async def client(search_server: RedisServer) -> AsyncIterator[redis.Redis]:
    connection = redis.Redis.from_url(search_server.url)
    try:
        yield connection
    finally:
        await connection.aclose()


@pytest.fixture
def namespace() -> str:
    return f"t{uuid.uuid4().hex[:8]}:"  # one index per test: tests share the worker's server


def redis_cache(client: redis.Redis, namespace: str) -> SemanticCache:
    embedder = HashingEmbedder()
    backend = RedisVectorBackend(
        client, dim=embedder.dim, embedder=embedder.name, namespace=namespace
    )
    return SemanticCache(embedder, threshold=0.8, unknown_ratio=non_ascii_ratio, backend=backend)


async def eventually(check: Callable[[], Awaitable[bool]], within_s: float = 5.0) -> None:
    with anyio.fail_after(within_s):
        while not await check():
            await anyio.sleep(0.02)


async def answer(
    cache: SemanticCache, query: str, tenant: str = "acme", tier: str = "cheap"
) -> bytes | None:
    found = await cache.lookup(query, tenant=tenant, tier=tier)
    return None if found.entry is None else found.entry.payload


async def test_the_query_engine_is_detected(client: redis.Redis, redis_server: RedisServer) -> None:
    assert await has_query_engine(client)
    plain = redis.Redis.from_url(redis_server.url)  # Debian's redis 7.0: no FT.* commands
    try:
        assert not await has_query_engine(plain)
    finally:
        await plain.aclose()


async def test_insert_then_knn_finds_it_within_its_partition_only(
    client: redis.Redis, namespace: str
) -> None:
    cache = redis_cache(client, namespace)
    assert await cache.store(
        "How do I reset my password?", b"reset", tenant="acme", tier="cheap", ttl_s=60
    )
    await cache.store("Where is my parcel?", b"parcel", tenant="acme", tier="cheap", ttl_s=60)
    await cache.store(
        "How do I reset my password?", b"other", tenant="globex", tier="cheap", ttl_s=60
    )

    hit = await cache.lookup("how can i reset my password", tenant="acme", tier="cheap")
    assert hit.reason == "hit" and hit.entry is not None
    # FLOAT16 vectors (the default): the same text scores 1 within half precision.
    assert hit.entry.payload == b"reset" and hit.score == pytest.approx(1.0, abs=2e-3)
    assert await answer(cache, "How do I reset my password?", tenant="globex") == b"other"
    # Another tier (model, instructions, format...) is another partition: nothing to find.
    miss = await cache.lookup("How do I reset my password?", tenant="acme", tier="strong")
    assert (miss.entry, miss.reason) == (None, "empty")
    assert isinstance(cache.backend, RedisVectorBackend)
    assert await cache.backend.count() == 3


async def test_candidates_from_redis_pass_the_same_guards(
    client: redis.Redis, namespace: str
) -> None:
    on_redis, in_memory = (
        redis_cache(client, namespace),
        SemanticCache(HashingEmbedder(), threshold=0.8, unknown_ratio=non_ascii_ratio),
    )
    assert isinstance(in_memory.backend, MemoryBackend)
    for cache in (on_redis, in_memory):
        await cache.store(
            "Can I cancel my order?", b"cancel", tenant="acme", tier="cheap", ttl_s=60
        )
        await cache.store(
            "Refund 20 dollars to my visa card today", b"20", tenant="acme", tier="cheap", ttl_s=60
        )
    probes = (
        "Can I not cancel my order?",
        "Refund 200 dollars to my visa card today",
        "can i cancel my order",
    )
    verdicts = [
        [(await c.lookup(p, tenant="acme", tier="cheap")).reason for p in probes]
        for c in (on_redis, in_memory)
    ]
    assert verdicts[0] == verdicts[1]
    assert verdicts[0][0].startswith("guard:") and verdicts[0][1].startswith("guard:")
    assert verdicts[0][2] == "hit"


async def test_an_entry_expires_with_its_key(client: redis.Redis, namespace: str) -> None:
    cache = redis_cache(client, namespace)
    await cache.store(
        "What are your opening hours?", b"hours", tenant="acme", tier="cheap", ttl_s=0.2
    )
    await cache.store("Do you ship abroad?", b"abroad", tenant="acme", tier="cheap", ttl_s=60)
    assert await answer(cache, "What are your opening hours?") == b"hours"
    assert 0 < await client.pttl(_key(cache, "what are your opening hours?")) <= 200

    async def expired() -> bool:
        return await answer(cache, "What are your opening hours?") is None

    await eventually(expired)
    assert await answer(cache, "Do you ship abroad?") == b"abroad"


async def test_invalidation_by_tag_drops_only_tagged_entries(
    client: redis.Redis, namespace: str
) -> None:
    cache = redis_cache(client, namespace)
    for question, tags in (
        ("What is the refund policy?", ("doc:refunds", "doc:faq")),
        ("How long do refunds take?", ("doc:refunds",)),
        ("Where is your office?", ("doc:contact",)),
    ):
        await cache.store(
            question, question.encode(), tenant="acme", tier="cheap", ttl_s=60, tags=tags
        )
    removed = await cache.remove_tag("doc:refunds", lambda e: ())
    assert sorted(e.query for e in removed) == [
        "how long do refunds take?",
        "what is the refund policy?",
    ]
    assert {e.tags for e in removed} == {("doc:refunds", "doc:faq"), ("doc:refunds",)}
    assert await answer(cache, "What is the refund policy?") is None
    assert await answer(cache, "Where is your office?") == b"Where is your office?"
    assert await cache.remove("Where is your office?", tenant="acme", tier="cheap")
    assert isinstance(cache.backend, RedisVectorBackend)
    assert await cache.backend.count() == 0


async def test_two_caches_share_one_index(client: redis.Redis, namespace: str) -> None:
    a, b = redis_cache(client, namespace), redis_cache(client, namespace)
    await a.store(
        "How do I change my email address?", b"email", tenant="acme", tier="cheap", ttl_s=60
    )
    # No replication: B searches the very index A wrote to.
    hit = await b.lookup("how can i change my email address", tenant="acme", tier="cheap")
    assert hit.reason == "hit" and hit.entry is not None and hit.entry.payload == b"email"


async def test_replacing_an_entry_resets_its_ttl_and_tags(
    client: redis.Redis, namespace: str
) -> None:
    cache = redis_cache(client, namespace)
    await cache.store(
        "Is there a student discount?",
        b"v1",
        tenant="acme",
        tier="cheap",
        ttl_s=0.3,
        tags=("doc:a",),
    )
    await cache.store("Is there a student discount?", b"v2", tenant="acme", tier="cheap", ttl_s=60)
    assert await client.pttl(_key(cache, "is there a student discount?")) > 1000
    assert await cache.remove_tag("doc:a", lambda e: ()) == []
    assert await answer(cache, "Is there a student discount?") == b"v2"


def _key(cache: SemanticCache, normalised: str) -> str:
    assert isinstance(cache.backend, RedisVectorBackend)
    return cache.backend.key_prefix + entry_id("acme", "cheap", "hashing-bow", normalised)


async def test_a_float16_index_scores_as_float32_does_in_its_own_index(
    client: redis.Redis, namespace: str
) -> None:
    rng = np.random.default_rng(7)
    rows = rng.standard_normal((40, 16)).astype(np.float32)
    rows /= np.linalg.norm(rows, axis=1, keepdims=True)
    query = rows[3] + 0.2 * rng.standard_normal(16).astype(np.float32)
    query /= np.linalg.norm(query)
    part = ("acme", "cheap", "e")
    found, names = {}, set()
    for kind in ("FLOAT32", "FLOAT16"):
        backend = RedisVectorBackend(
            client, dim=16, embedder="e", namespace=namespace, vector_type=kind
        )
        names.add(backend.index_name)
        for i, row in enumerate(rows):
            await backend.add(
                SemanticEntry(f"{i:02d}", f"q{i}", b"p", "acme", "cheap"), row, part, 60
            )
        found[kind] = await backend.search(query, part, 4)
    exact = np.argsort(-(rows @ query))[:4]
    for kind in ("FLOAT32", "FLOAT16"):
        assert [int(e.id) for e, _ in found[kind]] == exact.tolist()
    for (_, half), (_, single) in zip(found["FLOAT16"], found["FLOAT32"], strict=True):
        assert abs(half - single) < 2e-3  # half precision: ~3 significant digits a component
    assert len(names) == 2  # two indexes over two sets of keys: neither reads the other's blobs
    assert len(await client.keys(f"{namespace}semvfloat16:*")) == 40
