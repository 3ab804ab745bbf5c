"""What only the in-memory store does: bounded size, LRU eviction, sweeping and tag upkeep."""

from __future__ import annotations

import pytest

from cache.memory import MemoryTTLStore
from tests.cache.test_store_contract import FakeClock

pytestmark = pytest.mark.anyio


class TestMemoryTTLStore:
    async def test_evicts_the_least_recently_used_key_when_full(self) -> None:
        store = MemoryTTLStore(max_entries=3)
        for key in ("a", "b", "c"):
            await store.set(key, key.encode(), None)
        assert await store.get("a") == b"a"  # "a" is now the most recently used
        await store.set("d", b"d", None)
        assert len(store) == 3
        assert await store.get("b") is None
        assert [await store.get(k) for k in ("a", "c", "d")] == [b"a", b"c", b"d"]

    async def test_overwriting_a_key_does_not_evict_another(self) -> None:
        store = MemoryTTLStore(max_entries=2)
        await store.set("a", b"1", None)
        await store.set("b", b"2", None)
        await store.set("a", b"3", None)
        assert await store.get("a") == b"3"
        assert await store.get("b") == b"2"

    async def test_writes_sweep_expired_entries_at_the_cold_end(self) -> None:
        clock = FakeClock()
        store = MemoryTTLStore(clock=clock)
        for i in range(4):
            await store.set(f"old-{i}", b"v", 1.0)
        clock.now += 5
        await store.set("new", b"v", None)
        # Expired entries went without anyone reading them.
        assert len(store) == 1

    async def test_tag_index_forgets_keys_that_are_gone(self) -> None:
        clock = FakeClock()
        store = MemoryTTLStore(max_entries=2, clock=clock)
        await store.set("deleted", b"v", None, tags=["t1"])
        await store.delete("deleted")
        await store.set("expired", b"v", 1.0, tags=["t2"])
        clock.now += 5
        assert await store.get("expired") is None
        await store.set("evicted", b"v", None, tags=["t3"])
        await store.set("x", b"v", None)
        await store.set("y", b"v", None)
        assert await store.get("evicted") is None
        # The tag index is private; checking it is the point: no leak of dead keys.
        assert store._tags == {}

    async def test_overwrite_replaces_the_tags_of_a_key(self) -> None:
        store = MemoryTTLStore()
        await store.set("k", b"old", None, tags=["doc-1"])
        await store.set("k", b"new", None, tags=["doc-2"])
        assert await store.delete_tag("doc-1") == 0
        assert await store.get("k") == b"new"
        assert await store.delete_tag("doc-2") == 1

    async def test_incr_by_on_a_non_integer_value_raises_value_error(self) -> None:
        store = MemoryTTLStore()
        await store.set("k", b"not a number", None)
        with pytest.raises(ValueError):
            await store.incr_by("k", 1, None)

    async def test_incr_by_after_expiry_starts_a_new_counter(self) -> None:
        clock = FakeClock()
        store = MemoryTTLStore(clock=clock)
        await store.incr_by("n", 7, 10)
        clock.now += 10
        assert await store.incr_by("n", 1, 10) == 1

    def test_rejects_a_size_below_one(self) -> None:
        with pytest.raises(ValueError, match="max_entries"):
            MemoryTTLStore(max_entries=0)
