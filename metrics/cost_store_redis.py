"""`RedisCostStore`: cost counters in Redis, so every replica adds into one total.

Layout under ``namespace + COST_PREFIX`` (``frugal:{cost}:`` by default):

- ``<dimension>``: a hash per dimension of `DIMENSIONS`; field ``<counter>:<name>`` (counter
  names hold no ``:``, so a tenant or model name may), value an integer grown by ``HINCRBY``;
- ``spend:<bucket>``: the micro-USD spent in one time bucket, grown by ``INCRBY``;
- ``since``: the epoch millisecond of the first record (``SET NX``);
- ``applied:<bucket>``: the ids of the records added in one time bucket, so a record replayed
  from `metrics.cost_journal.CostJournal` is added at most once (kept ``COST_APPLIED_TTL_S``);
- ``names:<dimension>``: the set of names admitted to a dimension, at most ``max_names``; a new
  name past that is counted under `metrics.cost_store.OTHER` (shared by every replica).

Every key has a TTL: spend buckets their ``bucket_ttl_s``, the rest ``idle_ttl_s``, refreshed on
every record (so counters vanish only after that long without traffic). A record is one Lua
script (check-and-add of the names, then the counters): a reader never sees half of it. Redis
errors and timeouts are translated here, once, into `cache.errors.StoreUnavailable`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Final

import redis.asyncio as redis

from cache.keys import (
    COST_APPLIED,
    COST_APPLIED_TTL_S,
    COST_NAMES,
    COST_PREFIX,
    DEFAULT_NAMESPACE,
)
from cache.redis_store import redis_op
from metrics.cost_store import DEFAULT_MAX_NAMES, DIMENSIONS, OTHER, StoredCosts

DEFAULT_IDLE_TTL_S: Final = 30 * 86_400.0
_SPEND: Final = "spend:"
_SINCE: Final = "since"

# KEYS[1..n]: the dimension hashes, KEYS[n+1..2n]: their name sets, KEYS[2n+1]: the spend
# bucket, KEYS[2n+2]: since, KEYS[2n+3]: the applied ids. ARGV[1]: n, [2]: max names, [3]: idle
# ms, [4]: spend, [5]: bucket TTL ms, [6]: now ms, [7]: the overflow name, [8]: the record id
# ('' for none), [9]: applied TTL ms, [10..9+n]: the names, then counter/amount pairs.
# Returns 0 when the record id was already applied (nothing added), else 1.
_ADD: Final = """
local n, max_names, idle = tonumber(ARGV[1]), tonumber(ARGV[2]), ARGV[3]
if ARGV[8] ~= '' then
  if redis.call('SADD', KEYS[2 * n + 3], ARGV[8]) == 0 then
    return 0
  end
  redis.call('PEXPIRE', KEYS[2 * n + 3], ARGV[9])
end
for i = 1, n do
  local name, names = ARGV[9 + i], KEYS[n + i]
  if redis.call('SISMEMBER', names, name) == 0 then
    if redis.call('SCARD', names) < max_names then
      redis.call('SADD', names, name)
    else
      name = ARGV[7]
    end
  end
  for j = 10 + n, #ARGV, 2 do
    redis.call('HINCRBY', KEYS[i], ARGV[j] .. ':' .. name, ARGV[j + 1])
  end
  redis.call('PEXPIRE', KEYS[i], idle)
  redis.call('PEXPIRE', names, idle)
end
if tonumber(ARGV[4]) > 0 then
  redis.call('INCRBY', KEYS[2 * n + 1], ARGV[4])
  redis.call('PEXPIRE', KEYS[2 * n + 1], ARGV[5])
end
redis.call('SET', KEYS[2 * n + 2], ARGV[6], 'NX', 'PX', idle)
redis.call('PEXPIRE', KEYS[2 * n + 2], idle)
return 1
"""


class RedisCostStore:
    """A `metrics.cost_store.CostStore` in Redis under ``namespace``.

    Each operation runs within ``op_timeout_s``; on any Redis error or timeout it raises
    `StoreUnavailable`. After a timeout the script may or may not have been applied. At most
    ``max_names`` names per dimension (plus `OTHER`). The client is borrowed: closing it is
    the owner's job.
    """

    def __init__(
        self,
        client: redis.Redis,
        *,
        namespace: str = DEFAULT_NAMESPACE,
        idle_ttl_s: float = DEFAULT_IDLE_TTL_S,
        op_timeout_s: float = 0.25,
        max_names: int = DEFAULT_MAX_NAMES,
    ) -> None:
        if op_timeout_s <= 0 or idle_ttl_s <= 0 or max_names < 1:
            raise ValueError("op_timeout_s, idle_ttl_s and max_names must be positive")
        self._client = client
        self._add = client.register_script(_ADD)
        self._max_names = max_names
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
        record_id: str | None = None,
    ) -> None:
        """Add the counters and spend in one script, unless ``record_id`` was already added;
        raises `StoreUnavailable`."""
        pairs = [str(part) for item in counters.items() if item[1] for part in item]
        keys = [
            *(self._prefix + dimension for dimension in DIMENSIONS),
            *(self._prefix + COST_NAMES + dimension for dimension in DIMENSIONS),
            f"{self._prefix}{_SPEND}{bucket}",
            self._prefix + _SINCE,
            f"{self._prefix}{COST_APPLIED}{bucket}",
        ]
        args: list[str | int] = [
            len(DIMENSIONS),
            self._max_names,
            self._idle_ms,
            spend_usd_micros,
            _ms(bucket_ttl_s),
            math.floor(now * 1000),
            OTHER,
            record_id or "",
            _ms(max(COST_APPLIED_TTL_S, bucket_ttl_s)),
            *(names[dimension] for dimension in DIMENSIONS),
            *pairs,
        ]
        with redis_op("cost add", self._timeout):
            await self._add(keys=keys, args=args)

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
