"""Exact prompt cache: get/set operations per second, MemoryTTLStore versus RedisTTLStore.

Redis is a real redis-server started on a free loopback port. Each variant runs the same
PromptCache lookup/store loop (1 KB answers) sequentially and with 32 concurrent callers.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable

import anyio

from agent.types import Message, Usage
from bench.redis_process import start_redis_server
from cache.base import TTLStore
from cache.keys import DEFAULT_TTL_BY_CLASS
from cache.memory import MemoryTTLStore
from cache.prompt_cache import CachedAnswer, PromptCache
from cache.redis_store import RedisTTLStore, create_redis_client

OPS = 20_000
CONCURRENCY = (1, 32)


async def _rate(op: Callable[[int], Awaitable[object]], total: int, concurrency: int) -> float:
    counter = iter(range(total))

    async def worker() -> None:
        for i in counter:
            await op(i)

    started = time.perf_counter()
    async with anyio.create_task_group() as group:
        for _ in range(concurrency):
            group.start_soon(worker)
    return total / (time.perf_counter() - started)


async def _measure(store: TTLStore) -> dict[str, float]:
    cache = PromptCache(store, ttl_by_class=DEFAULT_TTL_BY_CLASS)
    keys = [
        cache.key_for(messages=[Message("user", f"question {i}")], tenant="t", model_tier="cheap")
        for i in range(OPS)
    ]
    answer = CachedAnswer(
        answer="x" * 1000,
        model="gpt-4o-mini",
        created_at=time.time(),
        usage=Usage(prompt=120, completion=250),
        cost_usd_micros=168,
    )

    async def store_one(i: int) -> object:
        return await cache.store(keys[i], answer, content_class="faq", tags=())

    async def lookup_one(i: int) -> object:
        return await cache.lookup(keys[i])

    results = {}
    for concurrency in CONCURRENCY:
        results[f"set c={concurrency}"] = await _rate(store_one, OPS, concurrency)
        results[f"get c={concurrency}"] = await _rate(lookup_one, OPS, concurrency)
    return results


async def _run(redis_url: str) -> tuple[dict[str, float], dict[str, float]]:
    memory = await _measure(MemoryTTLStore(max_entries=OPS * 2))
    client = create_redis_client(redis_url, pool_size=64, timeout_s=1.0)
    store = RedisTTLStore(client, namespace="bench:", op_timeout_s=1.0)
    try:
        redis = await _measure(store)
    finally:
        await store.aclose()
    return memory, redis


def main() -> None:
    with start_redis_server() as server:
        memory, redis = anyio.run(_run, server.url, backend_options={"use_uvloop": True})
    print(f"Exact prompt cache ops/s ({OPS} ops each, 1 KB answers; Redis on loopback)")
    print(f"{'operation':>12} {'memory':>10} {'redis':>10} {'memory/redis':>13}")
    for name in memory:
        print(
            f"{name:>12} {memory[name]:>10.0f} {redis[name]:>10.0f} "
            f"{memory[name] / redis[name]:>13.1f}"
        )


if __name__ == "__main__":
    main()
