"""`RedisBatchStore`: batches, results and the lane's totals in Redis, so a batch outlives the
process that accepted it and every replica sees the same state."""

from __future__ import annotations

import contextlib
import inspect
import logging
from collections.abc import Awaitable, Iterator
from typing import Final, TypeVar

import msgspec
import redis.asyncio as redis
from redis.exceptions import RedisError

from agent.batch.wire import BatchJob, BatchStats, LineResult
from cache.errors import StoreUnavailable
from cache.keys import BATCH_PREFIX, BATCH_TTL_S, DEFAULT_NAMESPACE

T = TypeVar("T")
_job_decoder = msgspec.json.Decoder(BatchJob)
_result_decoder = msgspec.json.Decoder(LineResult)
_encoder = msgspec.json.Encoder()
DEAD_LETTERS_KEPT = 10_000
WAIT_FIELDS: Final = {
    "retry": "deferred_retries",
    "rate_limited": "deferred_rate_waits",
    "budget": "deferred_budget_waits",
}
"""The `BatchStats` field counting each reason a deferred line waited."""
log = logging.getLogger("frugal.batch")


class DeadLetter(msgspec.Struct):
    """A line that failed for good, with its batch."""

    batch_id: str
    result: LineResult


_dead_decoder = msgspec.json.Decoder(DeadLetter)
_STAT_FIELDS = tuple(field.name for field in msgspec.structs.fields(BatchStats))

# Record a line's result once and add it to the totals in the same step.
_ADD_RESULT = """
if redis.call('HSETNX', KEYS[1], ARGV[1], ARGV[2]) == 0 then return 0 end
redis.call('EXPIRE', KEYS[1], ARGV[3])
for i = 4, #ARGV, 2 do redis.call('HINCRBY', KEYS[2], ARGV[i], ARGV[i + 1]) end
return 1
"""
_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then redis.call('DEL', KEYS[1]) end
return 0
"""


@contextlib.contextmanager
def _mapped() -> Iterator[None]:
    try:
        yield
    except (RedisError, OSError, TimeoutError) as exc:
        raise StoreUnavailable(f"batch store: {exc}") from exc


class RedisBatchStore:
    """A `BatchStore` and `ResultStore` under ``namespace`` + ``{batch}:``."""

    def __init__(self, client: redis.Redis, *, namespace: str = DEFAULT_NAMESPACE) -> None:
        self._client = client
        self._prefix = namespace + BATCH_PREFIX
        self._add_result = client.register_script(_ADD_RESULT)
        self._release = client.register_script(_RELEASE)

    def _key(self, *parts: str) -> str:
        return self._prefix + ":".join(parts)

    async def put_job(self, job: BatchJob, *, active: bool) -> None:
        """Save ``job``; ``active`` keeps it on the list the worker advances."""
        batch = job.batch
        with _mapped():
            async with self._client.pipeline(transaction=True) as pipe:
                pipe.set(self._key("job", batch.id), _encoder.encode(job), ex=int(BATCH_TTL_S))
                pipe.zadd(self._key("index", job.tenant), {batch.id: batch.created_at}, nx=True)
                if active:
                    pipe.sadd(self._key("active"), batch.id)
                else:
                    pipe.srem(self._key("active"), batch.id)
                await pipe.execute()

    async def get_job(self, batch_id: str) -> BatchJob | None:
        """The job, or None when no batch has that id."""
        with _mapped():
            raw = await self._client.get(self._key("job", batch_id))
        return None if raw is None else _job_decoder.decode(raw)

    async def list_jobs(self, tenant: str, *, after: str | None, limit: int) -> list[BatchJob]:
        """The tenant's batches, newest first, starting after the id ``after``."""
        with _mapped():
            ids = [
                _text(i) for i in await self._client.zrevrange(self._key("index", tenant), 0, -1)
            ]
            if after is not None:
                ids = ids[ids.index(after) + 1 :] if after in ids else []
            jobs = []
            for batch_id in ids[:limit]:
                job = await self.get_job(batch_id)
                if job is not None:
                    jobs.append(job)
        return jobs

    async def active_ids(self) -> list[str]:
        """The ids of batches not yet ended (possibly none)."""
        with _mapped():
            members = await _done(self._client.smembers(self._key("active")))
        return sorted(_text(m) for m in members)

    async def lease(self, batch_id: str, owner: str, ttl_s: float) -> bool:
        """Take (or renew) the right to advance ``batch_id``; False when another owner has it."""
        key = self._key("lease", batch_id)
        with _mapped():
            if await self._client.set(key, owner, nx=True, px=int(ttl_s * 1000)):
                return True
            holder = await self._client.get(key)
            if holder is not None and _text(holder) == owner:
                await self._client.pexpire(key, int(ttl_s * 1000))
                return True
        return False

    async def release(self, batch_id: str, owner: str) -> None:
        """Give the lease back if ``owner`` holds it."""
        with _mapped():
            await self._release(keys=[self._key("lease", batch_id)], args=[owner])

    async def add_result(self, batch_id: str, result: LineResult) -> bool:
        """Record ``result`` unless the line already has one; True when it was recorded."""
        increments: list[str | int] = []
        for name, amount in stat_increments(result).items():
            increments += [name, amount]
        with _mapped():
            added = await self._add_result(
                keys=[self._key("res", batch_id), self._key("stats")],
                args=[result.custom_id, _encoder.encode(result), int(BATCH_TTL_S), *increments],
            )
        return bool(added)

    async def results(self, batch_id: str) -> dict[str, LineResult]:
        """Every recorded result of the batch by custom_id (empty when none)."""
        with _mapped():
            raw = await _done(self._client.hgetall(self._key("res", batch_id)))
        decoded = (_result_decoder.decode(value) for value in raw.values())
        return {result.custom_id: result for result in decoded}

    async def dead_letter(self, batch_id: str, result: LineResult) -> None:
        """Keep a line that failed for good (newest first, the last ``DEAD_LETTERS_KEPT``)."""
        entry = _encoder.encode(DeadLetter(batch_id, result))
        with _mapped():
            async with self._client.pipeline(transaction=True) as pipe:
                pipe.lpush(self._key("dead"), entry)
                pipe.ltrim(self._key("dead"), 0, DEAD_LETTERS_KEPT - 1)
                await pipe.execute()

    async def dead_letters(self, limit: int) -> list[tuple[str, LineResult]]:
        """The newest ``limit`` dead letters as (batch id, result); empty when none."""
        with _mapped():
            raw = await _done(self._client.lrange(self._key("dead"), 0, limit - 1))
        letters = [_dead_decoder.decode(item) for item in raw]
        return [(letter.batch_id, letter.result) for letter in letters]

    async def count_wait(self, reason: str) -> None:
        """Count a deferred line put off for ``reason``; a store failure is only logged."""
        try:
            with _mapped():
                await _done(self._client.hincrby(self._key("stats"), WAIT_FIELDS[reason], 1))
        except StoreUnavailable as exc:
            log.warning("batch store: a deferred wait was not counted: %s", exc)

    async def stats(self) -> BatchStats:
        """The lane's totals (zeros when nothing ran)."""
        with _mapped():
            raw = await _done(self._client.hgetall(self._key("stats")))
        values = {(k.decode() if isinstance(k, bytes) else str(k)): int(v) for k, v in raw.items()}
        return BatchStats(**{name: values.get(name, 0) for name in _STAT_FIELDS})


async def _done(reply: Awaitable[T] | T) -> T:
    # redis-py types its commands as "awaitable or not" (sync and async clients share them).
    return await reply if inspect.isawaitable(reply) else reply


def _text(value: object) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def stat_increments(result: LineResult) -> dict[str, int]:
    """What recording ``result`` adds to the lane's `BatchStats` (the memory store counts
    alike)."""
    counts = {
        "requests": 1,
        "cost_usd_micros": result.cost_usd_micros,
        "interactive_usd_micros": result.interactive_usd_micros,
    }
    if result.status == "completed":
        counts["completed"] = 1
    elif result.status == "failed":
        counts["failed"] = 1
    source = {"cache": "cache_hits", "provider_batch": "provider_batched", "deferred": "deferred"}
    if result.status == "completed" and result.source in source:
        counts[source[result.source]] = 1
    return counts
