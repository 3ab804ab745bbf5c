"""Dashboard history: what one recorded call costs (a pipelined round trip to Redis) and what
the dashboard's read of a window costs, for 1 h (60 rows) and 24 h (1,440 rows merged into
240 points), against a full day of rows for 20 tenants.

Redis is a real redis-server started on a free loopback port. Writes run sequentially and
with 32 concurrent callers (the gateway records every call as it finishes).
"""

from __future__ import annotations

import time

import anyio

from bench.redis_process import start_redis_server
from cache.redis_store import create_redis_client
from metrics.cost_tracker import CallRecord
from metrics.history import History
from metrics.history_redis import RedisHistoryStore
from metrics.history_store import MemoryHistoryStore

WRITES = 10_000
TENANTS = 20
DAY_S = 86_400
READS = 20


def _call(i: int) -> CallRecord:
    return CallRecord(
        model=("gpt-4o-mini", "gpt-4o")[i % 2],
        tier=("cheap", "strong", "cache")[i % 3],
        tenant=f"tenant-{i % TENANTS}",
        cache_layer="exact" if i % 3 == 2 else None,
        cost_usd_micros=120 + i % 7,
        routing_saved_usd_micros=300,
        latency_ms=float(20 + i % 900),
        ttft_ms=float(5 + i % 300),
    )


async def _writes(history: History, now: float, concurrency: int) -> float:
    counter = iter(range(WRITES))

    async def worker() -> None:
        for i in counter:
            await history.add(_call(i), now)

    started = time.perf_counter()
    async with anyio.create_task_group() as group:
        for _ in range(concurrency):
            group.start_soon(worker)
    return WRITES / (time.perf_counter() - started)


async def _fill_day(history: History, now: float) -> None:
    # One call per tenant per minute over the last day: every row of the window exists.
    for minute in range(DAY_S // 60):
        for tenant in range(TENANTS):
            await history.add(_call(tenant), now - minute * 60)


async def _read_ms(history: History, window_s: int, tenant: str | None) -> float:
    started = time.perf_counter()
    for _ in range(READS):
        await history.read(tenant=tenant, window_s=window_s)
    return (time.perf_counter() - started) / READS * 1000


async def _measure(history: History) -> dict[str, float]:
    now = time.time()
    results = {f"write c={c} (ops/s)": await _writes(history, now, c) for c in (1, 32)}
    await _fill_day(history, now)
    for window, label in ((3_600, "1h"), (DAY_S, "24h")):
        results[f"read {label}, all (ms)"] = await _read_ms(history, window, None)
        results[f"read {label}, 1 tenant (ms)"] = await _read_ms(history, window, "tenant-3")
    return results


async def _run(redis_url: str) -> tuple[dict[str, float], dict[str, float]]:
    memory = await _measure(History(MemoryHistoryStore()))
    client = create_redis_client(redis_url, pool_size=64, timeout_s=5.0)
    try:
        store = RedisHistoryStore(client, namespace="bench:", op_timeout_s=5.0)
        redis = await _measure(History(store))
        used = await client.info("memory")
    finally:
        await client.aclose()
    redis["redis used memory (MB)"] = int(used["used_memory"]) / 1e6
    return memory, redis


def main() -> None:
    with start_redis_server() as server:
        memory, redis = anyio.run(_run, server.url, backend_options={"use_uvloop": True})
    print(f"Dashboard history ({WRITES} writes; reads over a full day of {TENANTS} tenants)")
    print(f"{'measure':>28} {'memory':>10} {'redis':>10}")
    for name in redis:
        print(f"{name:>28} {memory.get(name, float('nan')):>10.1f} {redis[name]:>10.1f}")


if __name__ == "__main__":
    main()
