"""`RedisHistoryStore`: the dashboard history in Redis, so every replica adds into the same
rows and any replica (or a reloaded page) reads the same charts.

One hash per scope and bucket, ``<namespace>stathist:<scope>:<bucket>``, grown by
``HINCRBY`` and expiring ``ttl_s`` after its last write. A record is one pipelined round
trip (single-key commands only, so it works unchanged on Redis Cluster); a read is one
pipeline of ``HGETALL``. Redis errors and timeouts become `cache.errors.StoreUnavailable`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import redis.asyncio as redis

from cache.keys import DEFAULT_NAMESPACE, STATS_HISTORY_PREFIX
from cache.redis_store import redis_op


class RedisHistoryStore:
    """A `metrics.history_store.HistoryStore` in Redis under ``namespace``. The client is
    borrowed (closing it is the owner's job)."""

    def __init__(
        self, client: redis.Redis, *, namespace: str = DEFAULT_NAMESPACE, op_timeout_s: float = 0.25
    ) -> None:
        if op_timeout_s <= 0:
            raise ValueError("op_timeout_s must be positive")
        self._client = client
        self._prefix = namespace + STATS_HISTORY_PREFIX
        self._timeout = op_timeout_s

    def _key(self, scope: str, bucket: int) -> str:
        return f"{self._prefix}{scope}:{bucket}"

    async def add(
        self, bucket: int, rows: Mapping[str, Mapping[str, int]], *, ttl_s: float, now: float
    ) -> None:
        """Add every row in one pipeline; raises `StoreUnavailable`."""
        ttl_ms = max(1, math.ceil(ttl_s * 1000))
        with redis_op("history add", self._timeout):
            async with self._client.pipeline(transaction=False) as pipe:
                for scope, counters in rows.items():
                    key = self._key(scope, bucket)
                    for counter, amount in counters.items():
                        if amount:
                            pipe.hincrby(key, counter, amount)
                    pipe.pexpire(key, ttl_ms)
                await pipe.execute()

    async def read(self, scope: str, buckets: Sequence[int]) -> dict[int, dict[str, int]]:
        """The rows of ``scope`` in ``buckets``; raises `StoreUnavailable`."""
        if not buckets:
            return {}
        with redis_op("history read", self._timeout * 4):
            async with self._client.pipeline(transaction=False) as pipe:
                for bucket in buckets:
                    pipe.hgetall(self._key(scope, bucket))
                replies = await pipe.execute()
        out: dict[int, dict[str, int]] = {}
        for bucket, raw in zip(buckets, replies, strict=True):
            if raw:
                out[bucket] = {_text(field): int(value) for field, value in raw.items()}
        return out


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value
