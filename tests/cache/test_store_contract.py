"""One contract for every `TTLStore`: the in-memory store and Redis must behave alike."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass

import anyio
import pytest

from cache.base import TTLStore
from cache.memory import MemoryTTLStore
from cache.redis_store import RedisTTLStore, create_redis_client

pytestmark = pytest.mark.anyio


class FakeClock:
    """A monotonic clock that only moves when told to."""

    def __init__(self) -> None:
        self.now = 1_000.0

    def __call__(self) -> float:
        return self.now


@dataclass
class Harness:
    store: TTLStore
    # Let ``seconds`` pass: instantly for the memory store's fake clock, really for Redis.
    advance: Callable[[float], Awaitable[None]]


@pytest.fixture(params=["memory", "redis"])
async def harness(request: pytest.FixtureRequest) -> AsyncIterator[Harness]:
    if request.param == "memory":
        clock = FakeClock()

        async def advance_clock(seconds: float) -> None:
            clock.now += seconds

        yield Harness(MemoryTTLStore(clock=clock), advance_clock)
        return
    server = request.getfixturevalue("redis_server")
    client = create_redis_client(server.url, pool_size=16, timeout_s=2.0)
    # A namespace of its own so parallel tests never see each other's keys.
    store = RedisTTLStore(client, namespace=f"test:{uuid.uuid4().hex}:", op_timeout_s=2.0)
    try:
        yield Harness(store, anyio.sleep)
    finally:
        await store.aclose()


async def test_store_implements_the_protocol(harness: Harness) -> None:
    assert isinstance(harness.store, TTLStore)


async def test_get_of_a_missing_key_is_none(harness: Harness) -> None:
    assert await harness.store.get("missing") is None


async def test_set_then_get_round_trips_bytes_and_overwrites(harness: Harness) -> None:
    store = harness.store
    await store.set("k", b"\x00first\xff", None)
    assert await store.get("k") == b"\x00first\xff"
    await store.set("k", b"second", None)
    assert await store.get("k") == b"second"


async def test_key_expires_after_its_ttl(harness: Harness) -> None:
    store = harness.store
    await store.set("short", b"v", 0.15)
    await store.set("forever", b"v", None)
    assert await store.get("short") == b"v"
    await harness.advance(0.5)
    assert await store.get("short") is None
    assert await store.get("forever") == b"v"


async def test_non_positive_ttl_is_rejected(harness: Harness) -> None:
    with pytest.raises(ValueError, match="ttl"):
        await harness.store.set("k", b"v", 0)
    with pytest.raises(ValueError, match="ttl"):
        await harness.store.incr_by("n", 1, -1.0)


async def test_delete_reports_whether_the_key_existed(harness: Harness) -> None:
    store = harness.store
    await store.set("k", b"v", None)
    assert await store.delete("k") is True
    assert await store.delete("k") is False
    assert await store.get("k") is None


async def test_delete_of_an_expired_key_reports_false(harness: Harness) -> None:
    await harness.store.set("k", b"v", 0.15)
    await harness.advance(0.5)
    assert await harness.store.delete("k") is False


async def test_delete_many_counts_existing_keys_once(harness: Harness) -> None:
    store = harness.store
    await store.set("a", b"1", None)
    await store.set("b", b"2", None)
    await store.set("c", b"3", None)
    assert await store.delete_many(["a", "b", "a", "nope"]) == 2
    assert await store.delete_many([]) == 0
    assert await store.get("a") is None
    assert await store.get("c") == b"3"


async def test_delete_tag_drops_every_tagged_key_and_nothing_else(harness: Harness) -> None:
    store = harness.store
    await store.set("a", b"1", 60, tags=["doc-1"])
    await store.set("b", b"2", None, tags=["doc-1", "doc-2"])
    await store.set("c", b"3", 60, tags=["doc-2"])
    await store.set("d", b"4", 60)
    assert await store.delete_tag("doc-1") == 2
    assert await store.get("a") is None
    assert await store.get("b") is None
    assert await store.get("c") == b"3"
    assert await store.get("d") == b"4"
    assert await store.delete_tag("doc-1") == 0
    assert await store.delete_tag("doc-2") == 1
    assert await store.delete_tag("never-used") == 0


async def test_delete_tag_does_not_count_expired_keys(harness: Harness) -> None:
    store = harness.store
    await store.set("short", b"1", 0.15, tags=["t"])
    await store.set("long", b"2", 60, tags=["t"])
    await harness.advance(0.5)
    assert await store.delete_tag("t") == 1
    assert await store.get("long") is None


async def test_tag_outlives_shorter_keys_when_a_later_key_lives_longer(
    harness: Harness,
) -> None:
    store = harness.store
    await store.set("short", b"1", 0.15, tags=["t"])
    await store.set("longer", b"2", 2.0, tags=["t"])
    await harness.advance(0.5)
    assert await store.delete_tag("t") == 1
    assert await store.get("longer") is None


async def test_tag_of_a_key_without_ttl_survives_a_later_short_key(harness: Harness) -> None:
    store = harness.store
    await store.set("forever", b"1", None, tags=["t"])
    await store.set("short", b"2", 0.15, tags=["t"])
    await harness.advance(0.5)
    assert await store.delete_tag("t") == 1
    assert await store.get("forever") is None


async def test_incr_by_creates_accumulates_and_reads_back_as_bytes(harness: Harness) -> None:
    store = harness.store
    assert await store.incr_by("n", 5, None) == 5
    assert await store.incr_by("n", 3, None) == 8
    assert await store.incr_by("n", -10, None) == -2
    assert await store.get("n") == b"-2"


async def test_incr_by_sets_the_ttl_at_creation_only(harness: Harness) -> None:
    store = harness.store
    assert await store.incr_by("window", 1, 0.5) == 1
    await harness.advance(0.3)
    # A later increment must not push the window's end out.
    assert await store.incr_by("window", 1, 0.5) == 2
    await harness.advance(0.35)
    assert await store.get("window") is None
    assert await store.incr_by("window", 1, 0.5) == 1


async def test_incr_by_is_atomic_under_concurrency(harness: Harness) -> None:
    store = harness.store
    results: list[int] = []

    async def bump() -> None:
        results.append(await store.incr_by("hits", 1, 60))

    async with anyio.create_task_group() as tg:
        for _ in range(200):
            tg.start_soon(bump)
    assert sorted(results) == list(range(1, 201))
    assert await store.get("hits") == b"200"
