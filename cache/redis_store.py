"""`RedisTTLStore`: the shared `TTLStore` that lets N replicas act as one service.

Every key is namespaced. Each operation runs inside ``anyio.fail_after(op_timeout_s)`` and every
redis error or timeout is translated here, once, into `cache.errors.StoreUnavailable`; nothing
from redis-py escapes this module. redis-py reconnects by itself, so a store that failed keeps
working as soon as Redis answers again.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

import anyio
import redis.asyncio as redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import RedisError

from cache.errors import StoreUnavailable
from cache.keys import DEFAULT_NAMESPACE, TAG_PREFIX

# SET the value, then add the key to each tag set and make the tag set live at least as long as
# the key: a new set takes the key's TTL, an existing one is only ever extended (GT), and a key
# without TTL makes its tag sets persistent. ARGV: value, ttl ms ("" = none), key.
_SET_TAGGED = """
local ttl = ARGV[2]
if ttl == '' then
  redis.call('SET', KEYS[1], ARGV[1])
else
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ttl)
end
for i = 2, #KEYS do
  local existed = redis.call('EXISTS', KEYS[i])
  redis.call('SADD', KEYS[i], ARGV[3])
  if ttl == '' then
    redis.call('PERSIST', KEYS[i])
  elseif existed == 0 then
    redis.call('PEXPIRE', KEYS[i], ttl)
  else
    redis.call('PEXPIRE', KEYS[i], ttl, 'GT')
  end
end
return 1
"""

# Delete every member of the tag set, then the set; return how many members still existed.
_DELETE_TAG = """
local members = redis.call('SMEMBERS', KEYS[1])
local deleted = 0
for i = 1, #members, 500 do
  deleted = deleted + redis.call('DEL', unpack(members, i, math.min(i + 499, #members)))
end
redis.call('DEL', KEYS[1])
return deleted
"""


def create_redis_client(url: str, *, pool_size: int, timeout_s: float) -> redis.Redis:
    """Build a Redis client over a bounded, blocking connection pool.

    Socket connect/read timeouts are ``timeout_s``; idle connections are health-checked before
    reuse, and a failed command is retried once at once on a fresh connection (which is what
    makes a restarted Redis usable again without restarting us).
    """
    pool = redis.BlockingConnectionPool.from_url(
        url,
        max_connections=pool_size,
        timeout=timeout_s,
        socket_timeout=timeout_s,
        socket_connect_timeout=timeout_s,
        health_check_interval=30,
        retry=Retry(NoBackoff(), 1),
    )
    return redis.Redis.from_pool(pool)


class RedisTTLStore:
    """A `cache.base.TTLStore` in Redis, under ``namespace``.

    Raises `cache.errors.StoreUnavailable` when Redis is down, slow (``op_timeout_s``) or answers
    with an error. `aclose` closes the client it was given.
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
        self._namespace = namespace
        self._timeout = op_timeout_s
        self._set_tagged = client.register_script(_SET_TAGGED)
        self._delete_tag = client.register_script(_DELETE_TAG)

    @property
    def namespace(self) -> str:
        """The prefix of every physical key this store touches."""
        return self._namespace

    async def get(self, key: str) -> bytes | None:
        """Return the value, or ``None`` when missing or expired."""
        with redis_op("GET", self._timeout):
            value = await self._client.get(self._key(key))
        # The client is built without decode_responses, so values are bytes.
        return value if value is None or isinstance(value, bytes) else value.encode()

    async def set(
        self, key: str, value: bytes, ttl: float | None, *, tags: Sequence[str] = ()
    ) -> None:
        """Store ``value`` for ``ttl`` seconds (``None``: no expiry); ``ttl`` must be positive."""
        ttl_ms = _ttl_ms(ttl)
        full = self._key(key)
        with redis_op("SET", self._timeout):
            if not tags:
                await self._client.set(full, value, px=ttl_ms)
                return
            tag_keys = [self._key(TAG_PREFIX + tag) for tag in dict.fromkeys(tags)]
            args: list[bytes | str] = [value, "" if ttl_ms is None else str(ttl_ms), full]
            await self._set_tagged(keys=[full, *tag_keys], args=args)

    async def delete(self, key: str) -> bool:
        """Delete one key; return whether it existed."""
        return await self.delete_many([key]) == 1

    async def delete_many(self, keys: Sequence[str]) -> int:
        """Delete the keys; return how many existed."""
        unique = [self._key(key) for key in dict.fromkeys(keys)]
        if not unique:
            return 0
        with redis_op("DEL", self._timeout):
            deleted: int = await self._client.delete(*unique)
        return deleted

    async def delete_tag(self, tag: str) -> int:
        """Delete every live key stored with ``tag``; return how many were deleted."""
        with redis_op("delete_tag", self._timeout):
            deleted = await self._delete_tag(keys=[self._key(TAG_PREFIX + tag)])
        return int(deleted)

    async def incr_by(self, key: str, amount: int, ttl: float | None) -> int:
        """Atomically add ``amount`` (a new key starts at 0 with ``ttl``); return the new value."""
        ttl_ms = _ttl_ms(ttl)
        full = self._key(key)
        with redis_op("INCRBY", self._timeout):
            if ttl_ms is None:
                value: int = await self._client.incrby(full, amount)
                return value
            # MULTI/EXEC: the NX set gives the TTL only to a key that does not exist yet.
            async with self._client.pipeline(transaction=True) as pipe:
                pipe.set(full, 0, px=ttl_ms, nx=True)
                pipe.incrby(full, amount)
                _, value = await pipe.execute()
            return value

    async def ping(self) -> bool:
        """Return ``True`` when Redis answers; raise `StoreUnavailable` otherwise (readiness)."""
        with redis_op("PING", self._timeout):
            return bool(await self._client.ping())

    async def aclose(self) -> None:
        """Close the client and its connection pool."""
        await self._client.aclose()

    def _key(self, key: str) -> str:
        return self._namespace + key


@contextmanager
def redis_op(op: str, timeout_s: float) -> Iterator[None]:
    """Run one Redis operation within ``timeout_s``; a timeout, a Redis error or a broken
    connection becomes `StoreUnavailable` naming ``op`` (the one translation every Redis-backed
    component shares)."""
    try:
        with anyio.fail_after(timeout_s):
            yield
    except TimeoutError as exc:
        raise StoreUnavailable(f"redis {op} took longer than {timeout_s}s", op=op) from exc
    except (RedisError, OSError) as exc:
        raise StoreUnavailable(f"redis {op} failed: {exc}", op=op) from exc


def _ttl_ms(ttl: float | None) -> int | None:
    if ttl is None:
        return None
    if ttl <= 0:
        raise ValueError(f"ttl must be positive or None, got {ttl!r}")
    return max(1, math.ceil(ttl * 1000))
