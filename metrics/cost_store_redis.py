"""`RedisCostStore`: cost counters in Redis, so every replica adds into one total.

Layout under ``namespace + COST_PREFIX`` (``frugal:cost:`` by default):

- ``<dimension>``: a hash per dimension of `DIMENSIONS`; field ``<counter>:<name>`` (counter
  names hold no ``:``, so a tenant or model name may), value an integer grown by ``HINCRBY``;
- ``spend:<bucket>``: the micro-USD spent in one time bucket, grown by ``INCRBY``;
- ``since``: the epoch millisecond of the first record (``SET NX``).

Every key has a TTL: spend buckets their ``bucket_ttl_s``, the rest ``idle_ttl_s``, refreshed on
every record (so counters vanish only after that long without traffic). A record is one
MULTI/EXEC transaction: a reader never sees half of it. Redis errors and timeouts are translated
here, once, into `cache.errors.StoreUnavailable`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Final

import redis.asyncio as redis

from cache.keys import COST_PREFIX, DEFAULT_NAMESPACE
from cache.redis_store import redis_op
from metrics.cost_store import DIMENSIONS, StoredCosts

DEFAULT_IDLE_TTL_S: Final = 30 * 86_400.0
_SPEND: Final = "spend:"
_SINCE: Final = "since"


class RedisCostStore:
    """A `metrics.cost_store.CostStore` in Redis under ``namespace``.

    Each operation runs within ``op_timeout_s``; on any Redis error or timeout it raises
    `StoreUnavailable`. After a timeout the transaction may or may not have been applied.
    The client is borrowed: closing it is the owner's job.
    """

    def __init__(
        self,
        client: redis.Redis,
        *,
        namespace: str = DEFAULT_NAMESPACE,
        idle_ttl_s: float = DEFAULT_IDLE_TTL_S,
        op_timeout_s: float = 0.25,
    ) -> None:
        if op_timeout_s <= 0 or idle_ttl_s <= 0:
            raise ValueError("op_timeout_s and idle_ttl_s must be positive")
        self._client = client
        self._prefix = namespace + COST_PREFIX
        self._idle_ms = _ms(idle_ttl_s)
        self._timeout = op_timeout_s

    @property
    def prefix(self) -> str:
        """The prefix of every physical key this store touches."""
        return self._prefix

    async def add(
        self,
        names: Mapping[str, str],
        counters: Mapping[str, int],
        *,
        bucket: int,
        spend_usd_micros: int,
        bucket_ttl_s: float,
        now: float,
    ) -> None:
        """Add the counters and spend in one transaction; raises `StoreUnavailable`."""
        nonzero = {counter: amount for counter, amount in counters.items() if amount}
        with redis_op("cost add", self._timeout):
            async with self._client.pipeline(transaction=True) as pipe:
                for dimension in DIMENSIONS:
                    key = self._prefix + dimension
                    for counter, amount in nonzero.items():
                        pipe.hincrby(key, f"{counter}:{names[dimension]}", amount)
                    pipe.pexpire(key, self._idle_ms)
                if spend_usd_micros:
                    spend_key = f"{self._prefix}{_SPEND}{bucket}"
                    pipe.incrby(spend_key, spend_usd_micros)
                    pipe.pexpire(spend_key, _ms(bucket_ttl_s))
                since_key = self._prefix + _SINCE
                pipe.set(since_key, math.floor(now * 1000), nx=True, px=self._idle_ms)
                pipe.pexpire(since_key, self._idle_ms)
                await pipe.execute()

    async def read(self, buckets: Sequence[int]) -> StoredCosts:
        """Every counter, the spend of ``buckets`` and ``since``; raises `StoreUnavailable`."""
        spend_keys = [f"{self._prefix}{_SPEND}{bucket}" for bucket in buckets]
        with redis_op("cost read", self._timeout):
            async with self._client.pipeline(transaction=True) as pipe:
                for dimension in DIMENSIONS:
                    pipe.hgetall(self._prefix + dimension)
                if spend_keys:
                    pipe.mget(spend_keys)
                pipe.get(self._prefix + _SINCE)
                replies = await pipe.execute()
        hashes, rest = replies[: len(DIMENSIONS)], replies[len(DIMENSIONS) :]
        counters = {
            dimension: _rows(raw) for dimension, raw in zip(DIMENSIONS, hashes, strict=True)
        }
        amounts = rest[0] if spend_keys else []
        spend = {bucket: int(amount or 0) for bucket, amount in zip(buckets, amounts, strict=True)}
        since = rest[-1]
        return StoredCosts(
            counters=counters, spend=spend, since=None if since is None else int(since) / 1000
        )


def _rows(raw: Mapping[bytes | str, bytes | str]) -> dict[str, dict[str, int]]:
    rows: dict[str, dict[str, int]] = {}
    for field, value in raw.items():
        text = field.decode() if isinstance(field, bytes) else field
        counter, _, name = text.partition(":")
        rows.setdefault(name, {})[counter] = int(value)
    return rows


def _ms(seconds: float) -> int:
    return max(1, math.ceil(seconds * 1000))
