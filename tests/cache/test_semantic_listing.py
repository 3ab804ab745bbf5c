"""Listing and removing semantic entries by id, the operator's view of the cache, on both
backends: the in-process `MemoryBackend` and `RedisVectorBackend` on a real Valkey 8.1 with the
RediSearch module. Live entries only, newest first, filtered by tenant, tag and a
case-insensitive piece of the question, bounded by a limit."""

from __future__ import annotations

import math
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass

import anyio
import numpy as np
import pytest
import redis.asyncio as redis

from agent.testing import ManualClock
from cache.normalize import normalize_text
from cache.semantic_backend import MAX_LISTED, ListedEntry, MemoryBackend, SemanticEntry
from cache.semantic_cache import SemanticCache, entry_id
from cache.semantic_redis import RedisVectorBackend
from tests.cache.test_semantic_cache import HashingEmbedder, non_ascii_ratio
from tests.support.redis_server import RedisServer

pytestmark = pytest.mark.anyio


@dataclass
class Cache:
    """A cache on one backend, and how to let an entry stored for `SHORT_TTL_S` expire."""

    cache: SemanticCache
    outlive_short_ttl: Callable[[], Awaitable[None]]

    async def put(
        self, question: str, *, tenant: str = "acme", ttl_s: float = 60, tags: tuple[str, ...] = ()
    ) -> str:
        stored = await self.cache.store(
            question, question.encode(), tenant=tenant, tier="cheap", ttl_s=ttl_s, tags=tags
        )
        assert stored
        return entry_id(tenant, "cheap", HashingEmbedder.name, normalize_text(question))

    async def listed(self, **filters: object) -> list[ListedEntry]:
        return await self.cache.backend.list_entries(**filters)  # type: ignore[arg-type]


SHORT_TTL_S = 0.2


@pytest.fixture(params=["memory", "redis"])
async def backend(request: pytest.FixtureRequest) -> AsyncIterator[Cache]:
    embedder = HashingEmbedder()
    if request.param == "memory":
        clock = ManualClock(1000.0)

        async def advance() -> None:
            clock.advance(SHORT_TTL_S + 0.01)

        memory = MemoryBackend(embedder.dim, 100, clock=clock)
        yield Cache(SemanticCache(embedder, threshold=0.8, backend=memory), advance)
        return
    server: RedisServer = request.getfixturevalue("search_server")
    client = redis.Redis.from_url(server.url)
    vectors = RedisVectorBackend(
        client, dim=embedder.dim, embedder=embedder.name, namespace=f"l{uuid.uuid4().hex[:8]}:"
    )

    async def wait() -> None:
        await anyio.sleep(SHORT_TTL_S + 0.05)

    try:
        cache = SemanticCache(
            embedder, threshold=0.8, unknown_ratio=non_ascii_ratio, backend=vectors
        )
        yield Cache(cache, wait)
    finally:
        await client.aclose()


class TestListing:
    async def test_lists_live_entries_newest_first_with_what_an_operator_needs(
        self, backend: Cache
    ) -> None:
        first = await backend.put("How do I reset my password?", tags=("doc:account",))
        await backend.put("Where is my parcel?")
        last = await backend.put("Do you ship to Canada?", tenant="globex", ttl_s=30)

        listed = await backend.listed()

        assert [e.query for e in listed] == [
            "do you ship to Canada?",
            "where is my parcel?",
            "how do I reset my password?",
        ]
        newest, oldest = listed[0], listed[-1]
        assert (newest.id, newest.tenant, newest.tier, newest.tags) == (
            last,
            "globex",
            "cheap",
            (),
        )
        assert newest.expires_in_s is not None and 25 < newest.expires_in_s <= 30
        assert (oldest.id, oldest.tags) == (first, ("doc:account",))
        assert oldest.expires_in_s is not None and 55 < oldest.expires_in_s <= 60

    async def test_an_entry_without_expiry_says_so(self, backend: Cache) -> None:
        await backend.put("What are your opening hours?", ttl_s=math.inf)
        [entry] = await backend.listed()
        assert entry.expires_in_s is None

    async def test_filters_by_tenant_exactly(self, backend: Cache) -> None:
        await backend.put("How do I reset my password?", tenant="acme.eu-1")
        await backend.put("Where is my parcel?", tenant="ACME.eu-1")  # TAG matches fold case
        await backend.put("Do you ship to Canada?", tenant="acme")
        listed = await backend.listed(tenant="acme.eu-1")
        assert [(e.tenant, e.query) for e in listed] == [
            ("acme.eu-1", "how do I reset my password?")
        ]
        assert [e.tenant for e in await backend.listed(tenant="acme")] == ["acme"]
        assert await backend.listed(tenant="initech") == []

    async def test_filters_by_tag(self, backend: Cache) -> None:
        await backend.put("What is the refund policy?", tags=("doc:refunds", "doc:faq"))
        await backend.put("How long do refunds take?", tags=("doc:refunds",))
        await backend.put("Where is your office?", tags=("doc:contact",))
        refunds = await backend.listed(tag="doc:refunds")
        assert [e.query for e in refunds] == [
            "how long do refunds take?",
            "what is the refund policy?",
        ]
        assert [e.query for e in await backend.listed(tag="doc:faq", tenant="acme")] == [
            "what is the refund policy?"
        ]
        assert await backend.listed(tag="doc:none") == []

    async def test_filters_by_a_piece_of_the_question_ignoring_case(self, backend: Cache) -> None:
        await backend.put("How do I reset my PASSWORD?")
        await backend.put("Can I change my password online?", tenant="globex")
        await backend.put("Where is my parcel?")
        found = await backend.listed(contains="Password")
        assert [e.query for e in found] == [
            "can I change my password online?",
            "how do I reset my PASSWORD?",
        ]
        assert [e.tenant for e in await backend.listed(contains="passw", tenant="acme")] == ["acme"]
        assert await backend.listed(contains="refund") == []

    async def test_expired_entries_are_not_listed(self, backend: Cache) -> None:
        await backend.put("What are your opening hours?", ttl_s=SHORT_TTL_S)
        await backend.put("Do you ship abroad?")
        assert len(await backend.listed()) == 2
        await backend.outlive_short_ttl()
        assert [e.query for e in await backend.listed()] == ["do you ship abroad?"]
        assert await backend.listed(contains="hours") == []

    async def test_returns_at_most_limit_newest_entries(self, backend: Cache) -> None:
        for n in range(7):
            await backend.put(f"Question number {n} about shipping?")
        assert [e.query for e in await backend.listed(limit=3)] == [
            "question number 6 about shipping?",
            "question number 5 about shipping?",
            "question number 4 about shipping?",
        ]
        assert len(await backend.listed(contains="SHIPPING", limit=5)) == 5
        assert len(await backend.listed()) == 7

    @pytest.mark.parametrize("limit", [0, -1, MAX_LISTED + 1])
    async def test_a_limit_out_of_range_is_refused(self, backend: Cache, limit: int) -> None:
        with pytest.raises(ValueError, match="limit"):
            await backend.listed(limit=limit)


class TestRemoveByIds:
    async def test_removes_exactly_those_entries_and_returns_them(self, backend: Cache) -> None:
        reset = await backend.put("How do I reset my password?", tags=("doc:account",))
        parcel = await backend.put("Where is my parcel?")
        kept = await backend.put("Do you ship to Canada?")

        removed = await backend.cache.remove_ids([reset, "0" * 32, parcel, reset])

        assert sorted((e.id, e.query, e.tenant, e.tier, e.tags) for e in removed) == sorted(
            [
                (reset, "how do I reset my password?", "acme", "cheap", ("doc:account",)),
                (parcel, "where is my parcel?", "acme", "cheap", ()),
            ]
        )
        assert [e.id for e in await backend.listed()] == [kept]
        miss = await backend.cache.lookup(
            "How can I reset my password?", tenant="acme", tier="cheap"
        )
        assert miss.entry is None
        assert await backend.cache.remove_ids([reset]) == []
        assert await backend.cache.remove_ids([]) == []


class TestMemoryOnly:
    async def test_a_replicated_entry_is_found_by_the_tags_in_its_payload(self) -> None:
        # Entries received from another replica arrive without tags: `tags_of` reads them.
        memory = MemoryBackend(4, 10)
        entry = SemanticEntry("e1", "what is the refund policy?", b"doc:refunds", "acme", "cheap")
        await memory.add(entry, np.ones(4, dtype=np.float32), ("acme", "cheap", "m"), 60)
        [found] = await memory.list_entries(
            tag="doc:refunds", tags_of=lambda e: [e.payload.decode()]
        )
        assert (found.id, found.tags) == ("e1", ("doc:refunds",))
        assert await memory.list_entries(tag="doc:refunds") == []

    async def test_storing_again_makes_an_entry_the_newest(self) -> None:
        cache = SemanticCache(HashingEmbedder(), threshold=0.8)
        for question in ("Where is my parcel?", "Do you ship to Canada?", "Where is my parcel?"):
            await cache.store(question, b"", tenant="acme", tier="cheap", ttl_s=60)
        assert [e.query for e in await cache.backend.list_entries()] == [
            "where is my parcel?",
            "do you ship to Canada?",
        ]


class TestRedisOnly:
    async def test_an_index_made_before_the_ts_field_is_altered_and_still_lists(
        self, search_server: RedisServer
    ) -> None:
        client = redis.Redis.from_url(search_server.url)
        embedder = HashingEmbedder()
        namespace = f"old{uuid.uuid4().hex[:8]}:"
        vectors = RedisVectorBackend(  # an older Frugal's index held FLOAT32 vectors
            client, dim=embedder.dim, embedder=embedder.name, namespace=namespace,
            vector_type="FLOAT32",
        )  # fmt: skip
        try:
            # The schema an older Frugal created: no ``ts``; and one entry it wrote.
            await client.execute_command(  # type: ignore[no-untyped-call]
                "FT.CREATE", vectors.index_name, "ON", "HASH", "PREFIX", "1", vectors.key_prefix,
                "SCHEMA", "vec", "VECTOR", "HNSW", "6", "TYPE", "FLOAT32", "DIM",
                str(embedder.dim), "DISTANCE_METRIC", "COSINE",
                "part", "TAG", "tenant", "TAG", "tags", "TAG", "SEPARATOR", ",",
            )  # fmt: skip
            await client.hset(
                vectors.key_prefix + "old",
                mapping={"q": "an old question?", "tier": "cheap", "tenant": "acme", "p": b""},
            )
            cache = SemanticCache(embedder, threshold=0.8, backend=vectors)
            await cache.store("A new question?", b"", tenant="acme", tier="cheap", ttl_s=60)
            listed = await vectors.list_entries()
            assert [(e.id, e.expires_in_s) for e in listed][1:] == [("old", None)]
            assert listed[0].query == "a new question?"
        finally:
            await client.aclose()
