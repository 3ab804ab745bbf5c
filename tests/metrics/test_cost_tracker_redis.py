"""CostTracker over RedisCostStore: replicas add into one total, keys are namespaced and expire,
the rolling window works across replicas, and a Redis outage never fails a record."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator

import anyio
import pytest
import redis.asyncio as redis

from agent.testing import ManualClock
from agent.types import Usage
from cache.errors import StoreUnavailable
from cache.keys import COST_PREFIX
from cache.redis_store import create_redis_client
from metrics.cost_store_redis import RedisCostStore
from metrics.cost_tracker import MONTH_S, CallRecord, CostTracker
from metrics.pricing import PriceTable
from tests.support.redis_server import ControllableRedisServer, RedisServer

pytestmark = pytest.mark.anyio

T0 = 1_700_000_040.0


@pytest.fixture
async def clients(redis_server: RedisServer) -> AsyncIterator[tuple[redis.Redis, redis.Redis]]:
    """Two clients with their own pools, as two replicas would have."""
    first = create_redis_client(redis_server.url, pool_size=8, timeout_s=5.0)
    second = create_redis_client(redis_server.url, pool_size=8, timeout_s=5.0)
    yield first, second
    await first.aclose()
    await second.aclose()


@pytest.fixture
def namespace() -> str:
    return f"test:{uuid.uuid4().hex}:"


@pytest.fixture
def own_server() -> Iterator[ControllableRedisServer]:
    with ControllableRedisServer() as server:
        yield server


def replica(client: redis.Redis, namespace: str, clock: ManualClock | None = None) -> CostTracker:
    store = RedisCostStore(client, namespace=namespace, op_timeout_s=10.0)
    return CostTracker(store, clock=clock or ManualClock(T0))


class TestSharedTotals:
    async def test_two_replicas_add_concurrently_into_one_exact_total(
        self, clients: tuple[redis.Redis, redis.Redis], namespace: str
    ) -> None:
        prices = PriceTable()
        clock = ManualClock(T0)
        trackers = [replica(client, namespace, clock) for client in clients]
        usage = Usage(prompt=3000, cached_prompt=1000, cache_write=1000, completion=100)
        cost = prices.cost_usd_micros("claude-sonnet-4-6", usage)
        assert cost == 8550

        # As many in flight per replica as its pool has connections: a loaded machine must
        # not turn waiting for a connection into dropped records.
        limiters = {id(tracker): anyio.CapacityLimiter(8) for tracker in trackers}

        async def burst(tracker: CostTracker, index: int) -> None:
            async with limiters[id(tracker)]:
                await record(tracker, index)

        async def record(tracker: CostTracker, index: int) -> None:
            await tracker.record(
                CallRecord(
                    model="claude-sonnet-4-6",
                    tier="strong" if index % 2 else "cheap",
                    tenant=f"tenant:{index % 3}",
                    cache_layer="exact" if index % 5 == 0 else None,
                    usage=usage,
                    cost_usd_micros=cost,
                    routing_saved_usd_micros=index,
                )
            )

        async with anyio.create_task_group() as tg:
            for tracker in trackers:
                for index in range(500):
                    tg.start_soon(burst, tracker, index)

        first, second = [await tracker.snapshot() for tracker in trackers]
        assert first == second
        assert first.dropped_records == 0
        assert first.totals.calls == 1000
        assert first.totals.cost_usd_micros == 1000 * 8550
        assert first.totals.cached_prompt_tokens == 1_000_000
        assert first.totals.cache_write_tokens == 1_000_000
        assert first.totals.routing_saved_usd_micros == 2 * sum(range(500))
        assert first.by_tier["strong"].calls == first.by_tier["cheap"].calls == 500
        assert sum(t.calls for t in first.by_tenant.values()) == 1000
        assert set(first.by_tenant) == {"tenant:0", "tenant:1", "tenant:2"}
        assert first.by_cache_layer["exact"].calls == 200
        assert first.window_spend_usd_micros == 1000 * 8550

    async def test_every_key_is_namespaced_and_expires(
        self, clients: tuple[redis.Redis, redis.Redis], namespace: str
    ) -> None:
        client = clients[0]
        tracker = replica(client, namespace)
        await tracker.record(CallRecord(model="gpt-4o", tier="strong", cost_usd_micros=5))
        keys = [key async for key in client.scan_iter(match=namespace + "*")]
        assert keys
        assert all(key.decode().startswith(namespace + COST_PREFIX) for key in keys)
        for key in keys:
            assert await client.pttl(key) > 0

    async def test_namespaces_do_not_share_totals(
        self, clients: tuple[redis.Redis, redis.Redis], namespace: str
    ) -> None:
        ours = replica(clients[0], namespace)
        theirs = replica(clients[1], namespace + "other:")
        await ours.record(CallRecord(model="gpt-4o", tier="strong", cost_usd_micros=7))
        await theirs.record(CallRecord(model="gpt-4o", tier="strong", cost_usd_micros=11))
        assert (await ours.snapshot()).totals.cost_usd_micros == 7
        assert (await theirs.snapshot()).totals.cost_usd_micros == 11

    async def test_unpriced_calls_are_shared(
        self, clients: tuple[redis.Redis, redis.Redis], namespace: str
    ) -> None:
        first, second = (replica(client, namespace) for client in clients)
        for tracker in (first, second):
            await tracker.record(CallRecord(model="llama-3", tier="explicit", cost_known=False))
        snap = await first.snapshot()
        assert snap.totals.unpriced_calls == 2
        assert snap.by_model["llama-3"].unpriced_calls == 2


class TestSharedWindow:
    async def test_monthly_estimate_uses_the_first_record_of_any_replica(
        self, clients: tuple[redis.Redis, redis.Redis], namespace: str
    ) -> None:
        clock = ManualClock(T0)
        first, second = (replica(client, namespace, clock) for client in clients)
        await first.record(CallRecord(model="gpt-4o", tier="strong", cost_usd_micros=400))
        clock.advance(300)
        await second.record(CallRecord(model="gpt-4o", tier="strong", cost_usd_micros=600))
        clock.advance(300)
        snap = await second.snapshot()
        # 1000 micro-USD since the first record, 600 s ago.
        assert snap.window_spend_usd_micros == 1000
        assert snap.estimated_monthly_usd_micros == 1000 * MONTH_S // 600
        clock.advance(3600)
        assert (await first.snapshot()).estimated_monthly_usd_micros == 0


class TestFailures:
    async def test_records_are_dropped_and_counted_and_snapshot_raises(
        self, own_server: ControllableRedisServer, namespace: str
    ) -> None:
        client = create_redis_client(own_server.url, pool_size=2, timeout_s=1.0)
        try:
            store = RedisCostStore(client, namespace=namespace, op_timeout_s=1.0)
            tracker = CostTracker(store, clock=ManualClock(T0))
            await tracker.record(CallRecord(model="gpt-4o", tier="strong", cost_usd_micros=3))
            own_server.stop()

            await tracker.record(CallRecord(model="gpt-4o", tier="strong", cost_usd_micros=5))
            assert tracker.dropped_records == 1
            with pytest.raises(StoreUnavailable):
                await tracker.snapshot()

            own_server.start()  # same port, empty (no persistence)
            await tracker.record(CallRecord(model="gpt-4o", tier="strong", cost_usd_micros=7))
            snap = await tracker.snapshot()
            assert snap.totals.cost_usd_micros == 7
            assert snap.dropped_records == 1
        finally:
            await client.aclose()

    async def test_a_cancelled_caller_still_gets_its_call_recorded(
        self, clients: tuple[redis.Redis, redis.Redis], namespace: str
    ) -> None:
        tracker = replica(clients[0], namespace)
        with anyio.CancelScope() as scope:
            scope.cancel()  # as when the client hung up before billing
            await tracker.record(CallRecord(model="gpt-4o", tier="strong", cost_usd_micros=9))
        assert (await tracker.snapshot()).totals.cost_usd_micros == 9
