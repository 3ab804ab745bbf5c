"""`RedisTTLStore`: the shared `TTLStore` that lets N replicas act as one service.

Every key is namespaced. Each operation runs inside ``anyio.fail_after(op_timeout_s)`` and every
redis error or timeout is translated here, once, into `cache.errors.StoreUnavailable`; nothing
from redis-py escapes this module. redis-py reconnects by itself, so a store that failed keeps
working as soon as Redis answers again.
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Awaitable, Iterator, Sequence
from contextlib import contextmanager
from typing import TypeVar

import anyio
import redis.asyncio as redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import RedisError

from cache.errors import StoreUnavailable
from cache.keys import DEFAULT_NAMESPACE, TAG_PREFIX

T = TypeVar("T")

# Add ARGV[2] (a key) to the tag set KEYS[1] and make the set live at least as long as that
# key: a new set takes the key's TTL, an existing one is only ever extended (GT), and a key
# without TTL makes the set persistent. ARGV: ttl ms ("" = none), member. One key per script
# call, so tag sets and entries may live in different Redis Cluster slots.
_ADD_TO_TAG = """
local ttl = ARGV[1]
local existed = redis.call('EXISTS', KEYS[1])
redis.call('SADD', KEYS[1], ARGV[2])
if ttl == '' then
  redis.call('PERSIST', KEYS[1])
elseif existed == 0 then
  redis.call('PEXPIRE', KEYS[1], ttl)
else
  redis.call('PEXPIRE', KEYS[1], ttl, 'GT')
end
return 1
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
        self._add_to_tag = client.register_script(_ADD_TO_TAG)

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
            ttl_arg = "" if ttl_ms is None else str(ttl_ms)
            # The tag sets first: once the entry exists, invalidating any of its tags finds it.
            # One key per command (no MULTI): the keys may be on different cluster nodes.
            async with self._client.pipeline(transaction=False) as pipe:
                for tag_key in tag_keys:
                    await self._add_to_tag(keys=[tag_key], args=[ttl_arg, full], client=pipe)
                await pipe.execute()
            await self._client.set(full, value, px=ttl_ms)

    async def delete(self, key: str) -> bool:
        """Delete one key; return whether it existed."""
        return await self.delete_many([key]) == 1

    async def delete_many(self, keys: Sequence[str]) -> int:
        """Delete the keys; return how many existed."""
        return await self._delete_each([self._key(key) for key in dict.fromkeys(keys)])

    async def delete_tag(self, tag: str) -> int:
        """Delete every live key stored with ``tag``; return how many were deleted."""
        tag_key = self._key(TAG_PREFIX + tag)
        with redis_op("delete_tag", self._timeout):
            members = list(await _done(self._client.smembers(tag_key)))
            if not members:
                return 0
            deleted = await self._delete_each(members)
            # SREM, not DEL: a key tagged while this ran stays findable by the tag.
            await _done(self._client.srem(tag_key, *members))
        return deleted

    async def _delete_each(self, full_keys: Sequence[str | bytes]) -> int:
        # One DEL per key in one pipeline: a multi-key DEL fails on Redis Cluster when the
        # keys are in different slots.
        if not full_keys:
            return 0
        with redis_op("DEL", self._timeout):
            async with self._client.pipeline(transaction=False) as pipe:
                for key in full_keys:
                    pipe.delete(key)
                results = await pipe.execute()
        return sum(int(r) for r in results)

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


async def _done(reply: Awaitable[T] | T) -> T:
    # redis-py types its commands as "awaitable or not" (sync and async clients share them).
    return await reply if inspect.isawaitable(reply) else reply


def _ttl_ms(ttl: float | None) -> int | None:
    if ttl is None:
        return None
    if ttl <= 0:
        raise ValueError(f"ttl must be positive or None, got {ttl!r}")
    return max(1, math.ceil(ttl * 1000))
