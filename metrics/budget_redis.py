"""`RedisBudgetLedger`: budget counters shared by every replica through one Redis.

Each window is a hash ``<namespace>budget:<period>:<start>:<scope>`` with fields ``spent`` and
``reserved``; alert marks are plain keys ``<namespace>budget:alert:<percent>:<window>``. Every
key carries a TTL a little longer than its window. The check-and-add of a reservation across all
of a request's windows is one Lua script, so no interleaving of replicas can pass a cap. Redis
errors and timeouts become `cache.errors.StoreUnavailable` here and nowhere else.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import redis.asyncio as redis

from cache.keys import BUDGET_PREFIX, DEFAULT_NAMESPACE
from cache.redis_store import redis_op
from metrics.budget_windows import Window

# KEYS: window hashes. ARGV: amount, then one cap per key, then one TTL (ms) per key.
# Returns the 1-based indexes of the windows that would overflow; adds only when none would.
_RESERVE = """
local n = #KEYS
local amount = tonumber(ARGV[1])
local blocked = {}
for i = 1, n do
  local held = redis.call('HMGET', KEYS[i], 'spent', 'reserved')
  local used = (tonumber(held[1]) or 0) + (tonumber(held[2]) or 0)
  if used + amount > tonumber(ARGV[1 + i]) then
    blocked[#blocked + 1] = i
  end
end
if #blocked == 0 then
  for i = 1, n do
    redis.call('HINCRBY', KEYS[i], 'reserved', ARGV[1])
    redis.call('PEXPIRE', KEYS[i], ARGV[1 + n + i])
  end
end
return blocked
"""

# KEYS: window hashes. ARGV: minus the reserved amount, the actual amount.
# Returns each window's new `spent`, or -1 for a window that has expired (left alone).
_SETTLE = """
local spent = {}
for i = 1, #KEYS do
  if redis.call('EXISTS', KEYS[i]) == 1 then
    redis.call('HINCRBY', KEYS[i], 'reserved', ARGV[1])
    spent[i] = redis.call('HINCRBY', KEYS[i], 'spent', ARGV[2])
  else
    spent[i] = -1
  end
end
return spent
"""


class RedisBudgetLedger:
    """A `metrics.budget_ledger.BudgetLedger` in Redis under ``namespace``.

    Each call runs within ``op_timeout_s``; any Redis failure raises `StoreUnavailable`. The
    client is the caller's (``create_redis_client``) and is not closed here.
    """

    def __init__(
        self,
        client: redis.Redis,
        *,
        namespace: str = DEFAULT_NAMESPACE,
        op_timeout_s: float = 0.25,
    ) -> None:
        if op_timeout_s <= 0:
            raise ValueError("op_timeout_s must be positive")
        self._client = client
        self._prefix = namespace + BUDGET_PREFIX
        self._timeout = op_timeout_s
        self._reserve = client.register_script(_RESERVE)
        self._settle = client.register_script(_SETTLE)

    def key(self, window: Window) -> str:
        """The physical Redis key of ``window``'s counters."""
        return self._prefix + window.key

    async def reserve(self, windows: Sequence[Window], amount: int, now: float) -> list[int]:
        """See `BudgetLedger.reserve`."""
        if not windows:
            return []
        args = [
            amount,
            *(window.cap_usd_micros for window in windows),
            *(_ms(window.ttl_s(now)) for window in windows),
        ]
        with redis_op("budget reserve", self._timeout):
            blocked = await self._reserve(keys=[self.key(w) for w in windows], args=args)
        return [int(index) - 1 for index in blocked]

    async def settle(
        self, windows: Sequence[Window], reserved: int, actual: int, now: float
    ) -> list[int | None]:
        """See `BudgetLedger.settle`."""
        if not windows:
            return []
        keys = [self.key(window) for window in windows]
        with redis_op("budget settle", self._timeout):
            spent = await self._settle(keys=keys, args=[-reserved, actual])
        return [None if int(value) < 0 else int(value) for value in spent]

    async def read(self, windows: Sequence[Window], now: float) -> list[tuple[int, int]]:
        """See `BudgetLedger.read`."""
        with redis_op("budget read", self._timeout):
            async with self._client.pipeline(transaction=False) as pipe:
                for window in windows:
                    pipe.hmget(self.key(window), ["spent", "reserved"])
                rows = await pipe.execute()
        return [(int(spent or 0), int(reserved or 0)) for spent, reserved in rows]

    async def claim_alert(self, window: Window, percent: int, now: float) -> bool:
        """See `BudgetLedger.claim_alert` (``SET NX`` with the window's TTL)."""
        key = f"{self._prefix}alert:{percent}:{window.key}"
        with redis_op("budget alert", self._timeout):
            claimed = await self._client.set(key, 1, nx=True, px=_ms(window.ttl_s(now)))
        return bool(claimed)


def _ms(seconds: float) -> int:
    return max(1, math.ceil(seconds * 1000))
