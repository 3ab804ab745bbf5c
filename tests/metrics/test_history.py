"""The dashboard history: per-minute rows per tenant in memory and in real Redis, read back
as points (merged for long windows), with savings split the one way `metrics.savings` says."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import pytest
import redis.asyncio as redis

from agent.testing import ManualClock
from cache.keys import STATS_HISTORY_PREFIX
from cache.redis_store import create_redis_client
from metrics.cost_store import MemoryCostStore
from metrics.cost_tracker import CallRecord, CostTracker
from metrics.history import LATENCY_BOUNDS_MS, OTHER, History, percentile
from metrics.history_redis import RedisHistoryStore
from metrics.history_store import HistoryStore, MemoryHistoryStore
from metrics.savings import BASELINES, MECHANISMS, SavedSplit, saved_split, split_saving
from tests.support.redis_server import RedisServer

pytestmark = pytest.mark.anyio

T0 = 1_700_000_040.0  # the start of a minute


@pytest.fixture
async def client(redis_server: RedisServer) -> AsyncIterator[redis.Redis]:
    client = create_redis_client(redis_server.url, pool_size=4, timeout_s=5.0)
    yield client
    await client.aclose()


def calls() -> list[tuple[float, CallRecord]]:
    """(seconds after T0, call): two tenants over three minutes, every mechanism once."""
    return [
        (1, CallRecord(model="m-cheap", tier="cheap", tenant="acme", cost_usd_micros=100,
                       routing_saved_usd_micros=400, latency_ms=30.0, ttft_ms=8.0)),
        (2, CallRecord(model="m-cheap", tier="cache", tenant="acme", cache_layer="exact",
                       cache_saved_usd_micros=100, latency_ms=2.0)),
        (61, CallRecord(model="m-strong", tier="strong", tenant="beta", cost_usd_micros=900,
                        latency_ms=800.0, used_fallback=True)),
        (62, CallRecord(model="m-strong", tier="cache", tenant="beta", cache_layer="semantic",
                        cache_saved_usd_micros=900, latency_ms=20.0)),
        (125, CallRecord(model="m-cheap", tier="batch", tenant="acme", cost_usd_micros=50,
                         batch_saved_usd_micros=50)),
    ]  # fmt: skip


async def fill(history: History, clock: ManualClock) -> None:
    for offset, call in calls():
        await history.add(call, T0 + offset)
    clock.now = T0 + 130


class TestSavings:
    def test_each_saving_belongs_to_one_mechanism(self) -> None:
        assert split_saving("exact", 7) == SavedSplit(exact_cache=7, total=7)
        assert split_saving("semantic", 7) == SavedSplit(semantic_cache=7, total=7)
        assert split_saving(None, 7) == SavedSplit(routing=7, total=7)
        assert split_saving("exact", 7, batch=True) == SavedSplit(batch=7, total=7)
        assert split_saving(None, -3) == SavedSplit()
        both = saved_split(1, 2, 3, 4) + saved_split(1, 1, 1, 1)
        assert both == SavedSplit(2, 3, 4, 5, 14)
        assert both - saved_split(1, 1, 1, 1) == saved_split(1, 2, 3, 4)
        assert set(BASELINES) == set(MECHANISMS) == set(SavedSplit.__struct_fields__) - {"total"}

    async def test_the_tracker_keeps_the_split_per_tenant(self) -> None:
        tracker = CostTracker(MemoryCostStore(), clock=ManualClock(T0))
        for _, call in calls():
            await tracker.record(call)
        snapshot = await tracker.snapshot()
        assert snapshot.totals.split() == saved_split(100, 900, 400, 50)
        assert snapshot.totals.saved_usd_micros == 1450
        assert snapshot.by_tenant["acme"].split() == saved_split(100, 0, 400, 50)
        assert snapshot.by_tenant["beta"].split() == saved_split(0, 900, 0, 0)


class TestPercentile:
    def test_estimated_inside_the_bucket(self) -> None:
        assert percentile({}, 50) is None
        # 10 samples in (25, 50] ms: the median is half-way through that bucket.
        assert percentile({"3": 10}, 50) == 37.5
        assert percentile({"0": 1, "3": 1}, 50) == 5.0
        assert percentile({str(len(LATENCY_BOUNDS_MS)): 4}, 95) == LATENCY_BOUNDS_MS[-1]


async def check_points(history: History, clock: ManualClock) -> None:
    await fill(history, clock)
    view = await history.read(tenant=None, window_s=300)
    assert (view.step_s, view.window_s, view.tenants) == (60, 300, ["acme", "beta"])
    by_t = {p.t: p for p in view.points}
    assert len(view.points) == 5 and view.points[-1].t == T0 + 120
    first, second, third = by_t[int(T0)], by_t[int(T0) + 60], by_t[int(T0) + 120]
    assert (first.calls, first.cost_usd_micros, first.exact_hits) == (2, 100, 1)
    assert first.saved == saved_split(100, 0, 400, 0)
    assert first.by_tier == {"cache": 1, "cheap": 1}
    assert first.cost_by_model == {"m-cheap": 100}
    assert first.latency_p50_ms is not None and 0 < first.latency_p50_ms <= 5
    assert first.ttft_p50_ms is not None and 5 < first.ttft_p50_ms <= 10
    assert (second.semantic_hits, second.fallbacks, second.saved.semantic_cache) == (1, 1, 900)
    assert third.saved == saved_split(0, 0, 0, 50) and third.latency_p50_ms is None
    assert by_t[int(T0) - 60].calls == 0  # empty minutes are points too

    acme = await history.read(tenant="acme", window_s=300)
    assert [p.calls for p in acme.points] == [0, 0, 2, 0, 1]
    assert sum(p.saved.total for p in acme.points) == 550
    assert acme.tenants == ["acme", "beta"]  # the selector still lists everyone
    nobody = await history.read(tenant="nobody", window_s=300)
    assert sum(p.calls for p in nobody.points) == 0

    # A day is at most 240 points: six minutes each, summed.
    day = await history.read(tenant=None, window_s=86_400)
    assert day.step_s == 360 and len(day.points) <= 241
    assert sum(p.calls for p in day.points) == 5
    assert sum(p.saved.total for p in day.points) == 1450


class TestMemoryHistory:
    async def test_points_per_minute_and_tenant(self) -> None:
        clock = ManualClock(T0)
        await check_points(History(MemoryHistoryStore(), clock=clock), clock)

    async def test_names_are_bounded(self) -> None:
        clock = ManualClock(T0)
        history = History(MemoryHistoryStore(), clock=clock, max_names=2)
        for i in range(5):
            call = CallRecord(model=f"m{i}", tier="cheap", tenant=f"t{i}", cost_usd_micros=1)
            await history.add(call, T0)
        view = await history.read(tenant=None, window_s=60)
        assert view.tenants == ["other", "t0", "t1"]
        assert view.points[-1].cost_by_model == {"m0": 1, "m1": 1, OTHER: 3}

    async def test_rows_expire_after_the_retention(self) -> None:
        store = MemoryHistoryStore()
        history = History(store, bucket_s=60, retention_s=120, clock=ManualClock(T0))
        await history.add(CallRecord(model="m", tier="cheap"), T0)
        await history.add(CallRecord(model="m", tier="cheap"), T0 + 600)
        assert await store.read("*", [int(T0) // 60]) == {}


class TestRedisHistory:
    async def test_points_per_minute_and_tenant(self, client: redis.Redis) -> None:
        clock = ManualClock(T0)
        store = RedisHistoryStore(client, namespace=f"t:{uuid.uuid4().hex}:", op_timeout_s=5.0)
        await check_points(History(store, clock=clock), clock)

    async def test_two_replicas_write_and_read_the_same_rows(self, client: redis.Redis) -> None:
        namespace = f"t:{uuid.uuid4().hex}:"
        clock = ManualClock(T0)
        stores: list[HistoryStore] = [
            RedisHistoryStore(client, namespace=namespace, op_timeout_s=5.0) for _ in "ab"
        ]
        first, second = (History(store, clock=clock) for store in stores)
        for i, (offset, call) in enumerate(calls()):
            await (first if i % 2 else second).add(call, T0 + offset)
        clock.now = T0 + 130
        seen = [await h.read(tenant=None, window_s=600) for h in (first, second)]
        assert seen[0].points == seen[1].points
        assert sum(p.calls for p in seen[0].points) == 5
        # Every row expires: the store stays bounded without a sweeper.
        keys = [k async for k in client.scan_iter(f"{namespace}{STATS_HISTORY_PREFIX}*")]
        ttls = [await client.pttl(k) for k in keys]
        assert keys and all(0 < ttl <= (86_400 + 60) * 1000 for ttl in ttls)
