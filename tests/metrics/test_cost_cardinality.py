"""Names a caller chooses (models a passthrough provider accepts, tenants) cannot grow
``/stats`` without bound: past ``max_names`` per dimension new names are summed under
``other``, in memory and in Redis (where every replica shares one set of admitted names)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import msgspec
import pytest
import redis.asyncio as redis
from prometheus_client.parser import text_string_to_metric_families

from agent.testing import ManualClock
from cache.keys import COST_NAMES, COST_PREFIX
from cache.redis_store import create_redis_client
from metrics.cost_store import OTHER, CostStore, MemoryCostStore
from metrics.cost_store_redis import RedisCostStore
from metrics.cost_tracker import CallRecord, CostTracker
from metrics.prometheus import GatewayMetrics
from metrics.request_record import RequestRecord
from tests.support.redis_server import RedisServer

pytestmark = pytest.mark.anyio

T0 = 1_700_000_040.0
NAMES = 3_000
MAX_NAMES = 200


@pytest.fixture
async def client(redis_server: RedisServer) -> AsyncIterator[redis.Redis]:
    client = create_redis_client(redis_server.url, pool_size=8, timeout_s=5.0)
    yield client
    await client.aclose()


async def record_distinct_names(tracker: CostTracker, count: int = NAMES) -> None:
    for i in range(count):
        await tracker.record(
            CallRecord(
                model=f"vendor/model-{i}", tier="explicit", tenant=f"t{i}", cost_usd_micros=7
            )
        )


def assert_bounded(tracker_snapshot: object, *, calls: int = NAMES) -> None:
    snapshot = msgspec.to_builtins(tracker_snapshot)
    # ~370 bytes per row (with the savings split by mechanism), two bounded caller-chosen
    # dimensions: ~155 KB whatever the number of names (unbounded, 3,000 names of each would
    # be ~2.2 MB)
    assert len(msgspec.json.encode(snapshot)) < 176 * 1024
    for dimension in ("by_model", "by_tenant"):
        rows = snapshot[dimension]
        assert len(rows) <= MAX_NAMES + 1
        assert rows[OTHER]["calls"] == calls - MAX_NAMES
        # nothing is lost: the names kept plus "other" add up to the total
        assert sum(row["calls"] for row in rows.values()) == snapshot["totals"]["calls"] == calls
        assert sum(row["cost_usd_micros"] for row in rows.values()) == 7 * calls
    assert "vendor/model-0" in snapshot["by_model"]  # the first names keep their own rows


class TestMemoryStore:
    async def test_3000_model_names_keep_stats_small(self) -> None:
        tracker = CostTracker(MemoryCostStore(max_names=MAX_NAMES), clock=ManualClock(T0))
        await record_distinct_names(tracker)
        assert_bounded(await tracker.snapshot())

    async def test_admitted_names_keep_counting_past_the_bound(self) -> None:
        tracker = CostTracker(MemoryCostStore(max_names=2), clock=ManualClock(T0))
        for model in ("a", "b", "c", "a", "d", "b"):
            await tracker.record(CallRecord(model=model, tier="cheap"))
        by_model = (await tracker.snapshot()).by_model
        assert {name: row.calls for name, row in by_model.items()} == {"a": 2, "b": 2, OTHER: 2}


class TestRedisStore:
    async def test_3000_model_names_keep_stats_small(self, client: redis.Redis) -> None:
        namespace = f"test:{uuid.uuid4().hex}:"
        store = RedisCostStore(client, namespace=namespace, max_names=MAX_NAMES, op_timeout_s=5.0)
        tracker = CostTracker(store, clock=ManualClock(T0))
        await record_distinct_names(tracker)
        assert_bounded(await tracker.snapshot())
        names_key = namespace + COST_PREFIX + COST_NAMES + "model"
        assert await client.scard(names_key) == MAX_NAMES
        assert await client.pttl(names_key) > 0  # the set expires like the counters

    async def test_replicas_share_one_bound(self, redis_server: RedisServer) -> None:
        namespace = f"test:{uuid.uuid4().hex}:"
        clients = [create_redis_client(redis_server.url, pool_size=4, timeout_s=5.0) for _ in "ab"]
        try:
            stores: list[CostStore] = [
                RedisCostStore(c, namespace=namespace, max_names=2, op_timeout_s=5.0)
                for c in clients
            ]
            first, second = (CostTracker(s, clock=ManualClock(T0)) for s in stores)
            await first.record(CallRecord(model="a", tier="cheap"))
            await second.record(CallRecord(model="b", tier="cheap"))
            await first.record(CallRecord(model="c", tier="cheap"))
            await second.record(CallRecord(model="a", tier="cheap"))
            by_model = (await second.snapshot()).by_model
        finally:
            for c in clients:
                await c.aclose()
        assert {name: row.calls for name, row in by_model.items()} == {"a": 2, "b": 1, OTHER: 1}


class TestPrometheusLabels:
    async def test_3000_model_names_keep_the_model_label_bounded(self) -> None:
        metrics = GatewayMetrics(max_models=MAX_NAMES)
        for i in range(NAMES):
            metrics.observe(
                RequestRecord(request_id=str(i), endpoint="chat", model=f"m{i}", cost_usd_micros=7)
            )
        exposition = metrics.render()[0].decode()
        costs = {
            sample.labels["model"]: sample.value
            for family in text_string_to_metric_families(exposition)
            for sample in family.samples
            if sample.name == "frugal_cost_usd_micros_total"
        }
        assert len(costs) == MAX_NAMES + 1
        assert costs[OTHER] == 7 * (NAMES - MAX_NAMES)
