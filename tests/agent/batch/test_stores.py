"""`RedisBatchStore` and `MemoryBatchStore` behave alike: one result per line, leases, lists."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import pytest
import redis.asyncio as redis

from agent.batch import MemoryBatchStore, RedisBatchStore
from agent.batch.lines import failed
from agent.batch.wire import BatchJob, BatchObject, LineResult, RequestCounts
from tests.support.redis_server import RedisServer

pytestmark = pytest.mark.anyio

Store = RedisBatchStore | MemoryBatchStore


@pytest.fixture(params=["redis", "memory"])
async def store(request: pytest.FixtureRequest) -> AsyncIterator[Store]:
    if request.param == "memory":
        yield MemoryBatchStore()
        return
    server: RedisServer = request.getfixturevalue("redis_server")
    client = redis.Redis.from_url(server.url)
    try:
        yield RedisBatchStore(client, namespace=f"stores-{uuid.uuid4().hex[:8]}:")
    finally:
        await client.aclose()


def job(batch_id: str, tenant: str = "t", created_at: int = 1) -> BatchJob:
    batch = BatchObject(
        batch_id,
        "/v1/chat/completions",
        "file-x",
        "24h",
        "in_progress",
        created_at,
        RequestCounts(),
    )
    return BatchJob(batch=batch, tenant=tenant)


async def test_a_line_keeps_its_first_result_and_counts_once(store: Store) -> None:
    done = LineResult(
        "a",
        "completed",
        "provider_batch",
        body={"id": "x"},
        model="m",
        cost_usd_micros=5,
        interactive_usd_micros=10,
    )
    assert await store.add_result("b1", done)
    assert not await store.add_result("b1", failed("a", "batch_cancelled", "late"))
    assert (await store.results("b1"))["a"].status == "completed"
    stats = await store.stats()
    assert (stats.requests, stats.completed, stats.provider_batched) == (1, 1, 1)
    assert (stats.cost_usd_micros, stats.saved_usd_micros) == (5, 5)


async def test_jobs_are_listed_newest_first_per_tenant_and_leave_the_active_set(
    store: Store,
) -> None:
    for index in range(3):
        await store.put_job(job(f"b{index}", created_at=index + 1), active=True)
    await store.put_job(job("other", tenant="u"), active=True)
    await store.put_job(job("b0", created_at=1), active=False)
    listed = [j.batch.id for j in await store.list_jobs("t", after=None, limit=10)]
    assert listed == ["b2", "b1", "b0"]
    assert [j.batch.id for j in await store.list_jobs("t", after="b2", limit=1)] == ["b1"]
    assert await store.active_ids() == ["b1", "b2", "other"]
    assert await store.get_job("nope") is None


async def test_a_lease_has_one_owner_until_released(store: Store) -> None:
    assert await store.lease("b", "me", 30)
    assert await store.lease("b", "me", 30)
    assert not await store.lease("b", "you", 30)
    await store.release("b", "you")  # not the holder: nothing happens
    assert not await store.lease("b", "you", 30)
    await store.release("b", "me")
    assert await store.lease("b", "you", 30)


async def test_dead_letters_are_kept_newest_first(store: Store) -> None:
    for name in ("x", "y"):
        await store.dead_letter("b", failed(name, "upstream_error", "down"))
    assert [r.custom_id for _, r in await store.dead_letters(10)] == ["y", "x"]
