"""`RedisBudgetLedger`: budget counters shared by every replica through one Redis.

Each window is a hash ``<namespace>{budget}:<period>:<start>:<scope>`` with fields ``spent`` and
``reserved``, and a sorted set ``<namespace>{budget}:holds:<window>`` of the holds in it by expiry
(``reserved`` is their sum, corrected when expired holds are pruned at the next reservation);
``<namespace>{budget}:hold:<id>`` keeps one hold's state so it is held and settled once. Alert
marks are plain keys ``<namespace>{budget}:alert:<percent>:<window>``. Every key carries a TTL a
little longer than its window. The check-and-add of a reservation across all of a request's
windows is one Lua script, so no interleaving of replicas can pass a cap. Redis
errors and timeouts become `cache.errors.StoreUnavailable` here and nowhere else.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import redis.asyncio as redis

from cache.keys import BUDGET_PREFIX, DEFAULT_NAMESPACE
from cache.redis_store import redis_op
from metrics.budget_windows import Window

# A hold is a member "<amount>:<id>" of each window's sorted set ``holds:<window>``, scored by
# its expiry (ms), and its running total is the hash's ``reserved``; the reserve script first
# drops expired members and takes their amounts off ``reserved``. ``hold:<id>`` records the
# hold's state ("<amount>" while held, "s" once settled) so neither step happens twice.
#
# KEYS: hold state, n window hashes, n hold sets. ARGV: amount, now (ms), expiry (ms), hold id,
# state TTL (ms), then one cap per window, then one TTL (ms) per window.
# Returns the 1-based indexes of the windows that would overflow; adds only when none would.
_RESERVE = """
local n = (#KEYS - 1) / 2
local amount = tonumber(ARGV[1])
local now = tonumber(ARGV[2])
if redis.call('EXISTS', KEYS[1]) == 1 then
  return {}
end
local blocked = {}
for i = 1, n do
  local hash, holds = KEYS[1 + i], KEYS[1 + n + i]
  local expired = redis.call('ZRANGEBYSCORE', holds, '-inf', now)
  if #expired > 0 then
    local freed = 0
    for _, member in ipairs(expired) do
      freed = freed + tonumber(string.match(member, '^(%d+):'))
    end
    redis.call('ZREMRANGEBYSCORE', holds, '-inf', now)
    if redis.call('EXISTS', hash) == 1 then
      redis.call('HINCRBY', hash, 'reserved', 0 - freed)
    end
  end
  local held = redis.call('HMGET', hash, 'spent', 'reserved')
  local used = (tonumber(held[1]) or 0) + (tonumber(held[2]) or 0)
  if used + amount > tonumber(ARGV[5 + i]) then
    blocked[#blocked + 1] = i
  end
end
if #blocked == 0 then
  local member = ARGV[1] .. ':' .. ARGV[4]
  for i = 1, n do
    local ttl = ARGV[5 + n + i]
    redis.call('HINCRBY', KEYS[1 + i], 'reserved', amount)
    redis.call('PEXPIRE', KEYS[1 + i], ttl)
    redis.call('ZADD', KEYS[1 + n + i], ARGV[3], member)
    redis.call('PEXPIRE', KEYS[1 + n + i], ttl)
  end
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[5])
end
return blocked
"""

# KEYS: hold state, n window hashes, n hold sets. ARGV: actual amount, hold id, state TTL (ms).
# Returns each window's new `spent`, or -1 for a window that has expired (left alone); all -1
# when the hold was already settled. A hold that expired meanwhile is not released twice.
_SETTLE = """
local n = (#KEYS - 1) / 2
local state = redis.call('GET', KEYS[1])
local spent = {}
if state == 's' then
  for i = 1, n do spent[i] = -1 end
  return spent
end
for i = 1, n do
  local hash = KEYS[1 + i]
  if redis.call('EXISTS', hash) == 1 then
    if state and redis.call('ZREM', KEYS[1 + n + i], state .. ':' .. ARGV[2]) == 1 then
      redis.call('HINCRBY', hash, 'reserved', 0 - tonumber(state))
    end
    spent[i] = redis.call('HINCRBY', hash, 'spent', ARGV[1])
  else
    spent[i] = -1
  end
end
redis.call('SET', KEYS[1], 's', 'PX', ARGV[3])
return spent
"""

_HOLD_STATE = "hold:"
_HOLD_SET = "holds:"


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

    async def reserve(
        self,
        windows: Sequence[Window],
        amount: int,
        now: float,
        *,
        hold_id: str,
        expires_at: float,
    ) -> list[int]:
        """See `BudgetLedger.reserve`."""
        if not windows:
            return []
        ttls = [_ms(window.ttl_s(now)) for window in windows]
        args: list[str | int] = [
            amount,
            _ms(now),
            _ms(expires_at),
            hold_id,
            max(ttls),
            *(window.cap_usd_micros for window in windows),
            *ttls,
        ]
        with redis_op("budget reserve", self._timeout):
            blocked = await self._reserve(keys=self._keys(windows, hold_id), args=args)
        return [int(index) - 1 for index in blocked]

    async def settle(
        self, windows: Sequence[Window], hold_id: str, actual: int, now: float
    ) -> list[int | None]:
        """See `BudgetLedger.settle`."""
        if not windows:
            return []
        args: list[str | int] = [actual, hold_id, max(_ms(window.ttl_s(now)) for window in windows)]
        with redis_op("budget settle", self._timeout):
            spent = await self._settle(keys=self._keys(windows, hold_id), args=args)
        return [None if int(value) < 0 else int(value) for value in spent]

    def _keys(self, windows: Sequence[Window], hold_id: str) -> list[str]:
        return [
            self._prefix + _HOLD_STATE + hold_id,
            *(self.key(window) for window in windows),
            *(self._prefix + _HOLD_SET + window.key for window in windows),
        ]

    async def read(self, windows: Sequence[Window], now: float) -> list[tuple[int, int]]:
        """See `BudgetLedger.read`."""
        # ``reserved`` still counts holds that expired since the last reservation pruned them:
        # take those off, so a crashed replica's holds stop showing once their TTL is over.
        with redis_op("budget read", self._timeout):
            async with self._client.pipeline(transaction=True) as pipe:
                for window in windows:
                    pipe.hmget(self.key(window), ["spent", "reserved"])
                    pipe.zrangebyscore(self._prefix + _HOLD_SET + window.key, "-inf", _ms(now))
                rows = await pipe.execute()
        found: list[tuple[int, int]] = []
        for (spent, reserved), expired in zip(rows[::2], rows[1::2], strict=True):
            stale = sum(int(member.split(b":", 1)[0]) for member in expired)
            found.append((int(spent or 0), max(int(reserved or 0) - stale, 0)))
        return found

    async def claim_alert(self, window: Window, percent: int, now: float) -> bool:
        """See `BudgetLedger.claim_alert` (``SET NX`` with the window's TTL)."""
        key = f"{self._prefix}alert:{percent}:{window.key}"
        with redis_op("budget alert", self._timeout):
            claimed = await self._client.set(key, 1, nx=True, px=_ms(window.ttl_s(now)))
        return bool(claimed)


def _ms(seconds: float) -> int:
    return max(1, math.ceil(seconds * 1000))
