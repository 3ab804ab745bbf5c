"""`RedisFailureLedger`: failed authentications per client address, counted by every replica in
one Redis, so a guesser spreading attempts over N replicas gets the same limit as one.

Each address has a sorted set of its recent failures (scored by time, trimmed to the window and
to the limit); an address that reaches the limit is written, with the time its block ends, to
one hash of blocked addresses that every replica reads back. Redis errors and timeouts become
`cache.errors.StoreUnavailable` here and nowhere else.
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Mapping

import redis.asyncio as redis

from cache.keys import AUTH_FAILURE_PREFIX, DEFAULT_NAMESPACE
from cache.redis_store import redis_op

# KEYS: the blocked hash, then one failure set per address. ARGV: now (ms), window (ms), limit,
# a tag unique to this call, then (address, failures) per address.
# Returns the live blocks as a flat list: address, until (ms), ...
_EXCHANGE = """
local now, window, limit, tag = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]), ARGV[4]
for i = 2, #KEYS do
  local key, address = KEYS[i], ARGV[3 + 2 * (i - 1)]
  local failures = math.min(tonumber(ARGV[4 + 2 * (i - 1)]), limit)
  for j = 1, failures do
    redis.call('ZADD', key, now, tag .. ':' .. i .. ':' .. j)
  end
  redis.call('ZREMRANGEBYSCORE', key, '-inf', now - window)
  redis.call('ZREMRANGEBYRANK', key, 0, -(limit + 1))
  redis.call('PEXPIRE', key, window)
  if redis.call('ZCARD', key) >= limit then
    local oldest = redis.call('ZRANGE', key, 0, 0, 'WITHSCORES')
    redis.call('HSET', KEYS[1], address, tonumber(oldest[2]) + window)
  end
end
local blocks = redis.call('HGETALL', KEYS[1])
local live = {}
for i = 1, #blocks, 2 do
  if tonumber(blocks[i + 1]) <= now then
    redis.call('HDEL', KEYS[1], blocks[i])
  else
    live[#live + 1] = blocks[i]
    live[#live + 1] = blocks[i + 1]
  end
end
if #live > 0 then
  redis.call('PEXPIRE', KEYS[1], window)
end
return live
"""


class RedisFailureLedger:
    """A `server.auth_failures.FailureLedger` in Redis (see the module)."""

    def __init__(
        self,
        client: redis.Redis,
        *,
        namespace: str = DEFAULT_NAMESPACE,
        op_timeout_s: float = 0.25,
    ) -> None:
        self._prefix = namespace + AUTH_FAILURE_PREFIX
        self._timeout = op_timeout_s
        self._exchange = client.register_script(_EXCHANGE)
        self._tag = uuid.uuid4().hex[:12]
        self._calls = 0

    async def exchange(
        self, failures: Mapping[str, int], now: float, *, limit: int, window_s: float
    ) -> dict[str, float]:
        """Add ``failures`` (per address, at ``now``, epoch seconds) and return every address
        blocked fleet-wide with the time (epoch seconds) its block ends."""
        self._calls += 1
        keys = [self._prefix + "blocked"] + [self._prefix + "ip:" + a for a in failures]
        args: list[str | int] = [
            math.floor(now * 1000),
            math.ceil(window_s * 1000),
            limit,
            f"{self._tag}:{self._calls}",
        ]
        for address, count in failures.items():
            args += [address, count]
        with redis_op("auth failures", self._timeout):
            flat = await self._exchange(keys=keys, args=args)
        return {_text(flat[i]): int(flat[i + 1]) / 1000 for i in range(0, len(flat), 2)}


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value
