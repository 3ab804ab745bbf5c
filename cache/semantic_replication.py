"""`RedisSemanticReplicator`: one semantic cache shared by every replica through Redis.

Each replica keeps its own in-process `SemanticCache` (searches never touch the network) and
mirrors it through Redis: a stored entry is written to its key with its TTL and announced on a
stream (`cache.semantic_wire`); every replica tails the stream and inserts what others wrote.
A replica that starts loads every live entry first, so it begins warm.

Fail open: the request path only ever puts records on a bounded in-memory queue, so a Redis
outage or a hung server costs requests nothing. Background loops bound every command with a
timeout, count errors, log at most once per ``log_interval_s``, back off and retry; on recovery
the tail resumes from the last message it saw (or reloads everything if the stream was trimmed
past it), without a restart.
"""

from __future__ import annotations

import logging
import math
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from contextlib import AbstractContextManager, asynccontextmanager
from typing import Any

import anyio
import msgspec
import numpy as np
import redis.asyncio as redis
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream
from redis.typing import EncodableT, FieldT

from cache.errors import StoreUnavailable
from cache.keys import DEFAULT_NAMESPACE
from cache.normalize import normalize_text
from cache.outage_log import OutageLog, ReportsOutages
from cache.redis_store import redis_op
from cache.semantic_cache import SemanticCache, SemanticEntry, SemanticRecord, entry_id
from cache.semantic_wire import (
    EVENT_FIELD,
    ORIGIN_FIELD,
    DeleteEvent,
    PutEvent,
    SemanticWire,
    stream_id_key,
)

_log = logging.getLogger(__name__)

_SCAN_COUNT = 256  # keys per SCAN step, fetched in one pipeline
_READ_COUNT = 256  # stream messages per XREAD
_WRITE_BATCH = 128  # queued writes per MULTI/EXEC
_MIN_BACKOFF_S = 0.05

_Op = SemanticRecord | DeleteEvent


class RedisSemanticReplicator(ReportsOutages):
    """Mirrors a `SemanticCache` through Redis so that N replicas share one cache.

    Wire it as the cache's ``on_store`` (``SemanticCache(..., on_store=replicator.publish)``),
    then run it with ``async with replicator.running(cache):``. Only entries of
    ``embedder_name`` are loaded from other replicas (vectors of two models never mix).

    The client must allow two connections besides other users (one blocks in XREAD for up to
    ``poll_block_ms``), and its socket timeout must exceed ``poll_block_ms``. Counters
    (``published_total``, ``applied_total``, ``dropped_total``, ``rejected_total``,
    ``errors_total``) are plain ints for the metrics layer. No method raises on a Redis failure.
    """

    def __init__(
        self,
        client: redis.Redis,
        *,
        embedder_name: str,
        namespace: str = DEFAULT_NAMESPACE,
        replica_id: str | None = None,
        op_timeout_s: float = 0.25,
        poll_block_ms: int = 200,
        stream_maxlen: int = 100_000,
        queue_size: int = 1024,
        max_backoff_s: float = 1.0,
        flush_timeout_s: float = 1.0,
        log_interval_s: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if op_timeout_s <= 0 or poll_block_ms < 1 or queue_size < 1 or stream_maxlen < 1:
            raise ValueError("timeouts, poll_block_ms, queue_size and stream_maxlen must be > 0")
        self.replica_id = replica_id or uuid.uuid4().hex
        self.published_total = 0  # writes that reached Redis
        self.applied_total = 0  # entries and deletions received from Redis and applied
        self.dropped_total = 0  # writes lost: queue full, not running, or Redis failed
        self.rejected_total = 0  # undecodable or unusable entries and events
        self.lag_s: float | None = None  # age of the last entry from another replica, applied
        self._client = client
        self._embedder = embedder_name
        self._wire = SemanticWire(namespace)
        self._origin = self.replica_id.encode()
        self._timeout = op_timeout_s
        self._block_ms = poll_block_ms
        self._maxlen = stream_maxlen
        self._queue_size = queue_size
        self._max_backoff = max_backoff_s
        self._flush_timeout = flush_timeout_s
        self._outage = OutageLog(
            _log,
            "semantic cache replication paused, serving from this replica",
            "semantic cache replication resumed",
            interval_s=log_interval_s,
            clock=clock,
        )
        self._send: MemoryObjectSendStream[_Op] | None = None
        self._cache: SemanticCache | None = None

    async def publish(self, record: SemanticRecord) -> None:
        """Queue ``record`` for Redis (the cache's ``on_store``); never blocks, never raises.

        Dropped (and counted) when the queue is full or the replicator is not running.
        """
        self._enqueue(record)

    async def invalidate(self, query: str, *, tenant: str, tier: str) -> bool:
        """Forget the entry for exactly ``query`` here, in Redis and on every other replica.

        Returns whether this replica held it. Raises RuntimeError when not running.
        """
        cache = self._cache
        if cache is None:
            raise RuntimeError("the replicator is not running")
        text = normalize_text(query)
        existed = await cache.remove(text, tenant=tenant, tier=tier)
        event_id = entry_id(tenant, tier, self._embedder, text)
        self._enqueue(DeleteEvent(event_id, text, tenant, tier, self._embedder))
        return existed

    def announce_removed(self, entries: Sequence[SemanticEntry]) -> None:
        """Delete ``entries`` (already removed from this replica's cache) from Redis and from
        every other replica; never blocks, never raises (dropped writes are counted)."""
        for entry in entries:
            self._enqueue(
                DeleteEvent(entry.id, entry.query, entry.tenant, entry.tier, self._embedder)
            )

    @asynccontextmanager
    async def running(
        self, cache: SemanticCache, *, wait_loaded_s: float = 5.0
    ) -> AsyncIterator[RedisSemanticReplicator]:
        """Load live entries into ``cache``, then tail and publish until the block exits.

        Waits up to ``wait_loaded_s`` for the initial load (not at all once it has failed:
        Redis being down must not delay startup). On exit, queued writes get
        ``flush_timeout_s`` to reach Redis and the tail is cancelled.
        """
        if self._cache is not None:
            raise RuntimeError("the replicator is already running")
        send, receive = anyio.create_memory_object_stream[_Op](self._queue_size)
        settled = anyio.Event()
        drained = anyio.Event()
        self._cache = cache
        self._send = send
        try:
            async with anyio.create_task_group() as tg:
                tg.start_soon(self._tail_forever, cache, settled)
                tg.start_soon(self._publish_until_closed, receive, drained)
                try:
                    with anyio.move_on_after(wait_loaded_s):
                        await settled.wait()
                    yield self
                finally:
                    self._send = None
                    send.close()
                    with anyio.move_on_after(self._flush_timeout, shield=True):
                        await drained.wait()
                    tg.cancel_scope.cancel()
        except BaseExceptionGroup as group:
            # Our loops never raise: the group only wraps what the caller's block raised.
            if len(group.exceptions) == 1:
                raise group.exceptions[0] from None
            raise
        finally:
            self._cache = None
            self._send = None

    def _enqueue(self, op: _Op) -> None:
        send = self._send
        if send is None:
            self.dropped_total += 1
            return
        try:
            send.send_nowait(op)
        except (anyio.WouldBlock, anyio.BrokenResourceError, anyio.ClosedResourceError):
            self.dropped_total += 1

    # -- publishing -----------------------------------------------------------------------

    async def _publish_until_closed(
        self, receive: MemoryObjectReceiveStream[_Op], drained: anyio.Event
    ) -> None:
        async with receive:
            async for op in receive:
                batch = [op]
                while len(batch) < _WRITE_BATCH:
                    try:
                        batch.append(receive.receive_nowait())
                    except (anyio.WouldBlock, anyio.EndOfStream):
                        break
                await self._write(batch)
        drained.set()

    async def _write(self, batch: Sequence[_Op]) -> None:
        # Entries first, then their announcements, as two pipelines rather than one MULTI/EXEC
        # (on Redis Cluster the entries live on other nodes than the stream): the second starts
        # once the first is done, so a reader never sees an event whose entry was not written,
        # and one replica's events keep their order (one stream key, one pipeline).
        wire = self._wire
        events: list[PutEvent | DeleteEvent] = []
        try:
            with self._guard("publish"):
                async with self._client.pipeline(transaction=False) as pipe:
                    for op in batch:
                        if isinstance(op, SemanticRecord):
                            op_id = entry_id(op.tenant, op.tier, op.embedder, op.query)
                            value = wire.encode_entry(op)
                            pipe.set(wire.entry_key(op_id), value, px=_ttl_ms(op.ttl_s))
                            events.append(PutEvent(op_id, op.embedder))
                        else:
                            pipe.delete(wire.entry_key(op.id))
                            events.append(op)
                    await pipe.execute()
                async with self._client.pipeline(transaction=False) as pipe:
                    for event in events:
                        fields: dict[FieldT, EncodableT] = {
                            ORIGIN_FIELD: self._origin,
                            EVENT_FIELD: wire.encode_event(event),
                        }
                        pipe.xadd(wire.stream_key, fields, maxlen=self._maxlen, approximate=True)
                    await pipe.execute()
        except StoreUnavailable as exc:
            self.dropped_total += len(batch)
            self._outage.failed(exc)
            return
        self.published_total += len(batch)
        self._outage.succeeded()

    # -- receiving ------------------------------------------------------------------------

    async def _tail_forever(self, cache: SemanticCache, settled: anyio.Event) -> None:
        last_id: bytes | None = None  # None: a full load is due
        recovering = False
        backoff = _MIN_BACKOFF_S
        while True:
            try:
                if last_id is None:
                    last_id = await self._load_all(cache)
                    settled.set()
                elif recovering and await self._trimmed_past(last_id):
                    last_id = None
                    continue
                recovering = False
                last_id = await self._read_once(cache, last_id)
                self._outage.succeeded()
                backoff = _MIN_BACKOFF_S
            except StoreUnavailable as exc:
                settled.set()
                self._outage.failed(exc)
                recovering = True
                await anyio.sleep(backoff)
                backoff = min(backoff * 2, self._max_backoff)

    async def _load_all(self, cache: SemanticCache) -> bytes:
        # Note the stream's tip *before* scanning: whatever is written during the scan is then
        # read again from the stream, never missed (applying an entry twice is harmless).
        stream = self._wire.stream_key
        with self._guard("XREVRANGE"):
            tip = await self._client.xrevrange(stream, count=1)
        last_id = _first_id(tip) or b"0-0"
        stream_bytes = stream.encode()
        cursor = 0
        while True:
            with self._guard("SCAN"):
                cursor, keys = await self._client.scan(
                    cursor, match=self._wire.entry_pattern, count=_SCAN_COUNT
                )
            await self._fetch_and_apply(cache, [key for key in keys if key != stream_bytes])
            if cursor == 0:
                return last_id

    async def _trimmed_past(self, last_id: bytes) -> bool:
        # After an outage: if the oldest message left is newer than the last one we saw, what
        # lay between was trimmed (or Redis lost its data), so only a full reload is complete.
        with self._guard("XRANGE"):
            first = _first_id(await self._client.xrange(self._wire.stream_key, count=1))
        return first is not None and stream_id_key(first) > stream_id_key(last_id)

    async def _read_once(self, cache: SemanticCache, last_id: bytes) -> bytes:
        with self._guard("XREAD", self._block_ms / 1000 + self._timeout):
            reply = await self._client.xread(
                {self._wire.stream_key: last_id}, count=_READ_COUNT, block=self._block_ms
            )
        pending: list[str] = []  # entry keys to fetch, flushed before a deletion to keep order
        for message_id, fields in _messages(reply):
            last_id = message_id
            if fields.get(ORIGIN_FIELD) == self._origin:
                continue  # our own write: already in this cache
            self.lag_s = _age_s(message_id)
            try:
                event = self._wire.decode_event(fields.get(EVENT_FIELD, b""))
            except msgspec.DecodeError:
                self.rejected_total += 1
                continue
            if event.embedder != self._embedder:
                continue
            if isinstance(event, PutEvent):
                pending.append(self._wire.entry_key(event.id))
                continue
            await self._fetch_and_apply(cache, pending)
            pending = []
            await cache.remove(event.query, tenant=event.tenant, tier=event.tier)
            self.applied_total += 1
        await self._fetch_and_apply(cache, pending)
        return last_id

    async def _fetch_and_apply(self, cache: SemanticCache, keys: Sequence[bytes | str]) -> None:
        if not keys:
            return
        with self._guard("GET"):
            async with self._client.pipeline(transaction=False) as pipe:
                for key in keys:
                    pipe.get(key)
                    pipe.pttl(key)
                results = await pipe.execute(raise_on_error=False)
        for data, pttl in zip(results[::2], results[1::2], strict=True):
            await self._apply_entry(cache, data, pttl)

    async def _apply_entry(self, cache: SemanticCache, data: object, pttl: object) -> None:
        # PTTL is -2 for a key gone meanwhile, -1 for one without expiry.
        if not isinstance(data, bytes) or not isinstance(pttl, int) or pttl in (-2, 0):
            return
        try:
            entry = self._wire.decode_entry(data)
            vector = np.frombuffer(entry.vector, dtype=np.float32)
        except (msgspec.DecodeError, ValueError):
            self.rejected_total += 1
            return
        if entry.embedder != self._embedder:
            return
        ttl_s = math.inf if pttl == -1 else pttl / 1000
        try:
            await cache.add_local(
                entry.query,
                vector,
                entry.payload,
                tenant=entry.tenant,
                tier=entry.tier,
                ttl_s=ttl_s,
            )
        except ValueError:  # wrong dimension or a zero vector: not from our embedder
            self.rejected_total += 1
            return
        self.applied_total += 1

    # -- errors ---------------------------------------------------------------------------

    def _guard(self, op: str, timeout_s: float | None = None) -> AbstractContextManager[None]:
        return redis_op(op, timeout_s or self._timeout)


def _ttl_ms(ttl_s: float) -> int | None:
    return None if math.isinf(ttl_s) else max(1, math.ceil(ttl_s * 1000))


def _messages(reply: Any) -> Iterator[tuple[bytes, dict[bytes, bytes]]]:
    # XREAD under RESP2 (what `create_redis_client` speaks): [[stream, [(id, fields), ...]]].
    for _stream, messages in reply or ():
        yield from messages


def _first_id(messages: Any) -> bytes | None:
    # XRANGE / XREVRANGE answer [(id, fields), ...]; ids are bytes (no decode_responses).
    if not messages:
        return None
    message_id = messages[0][0]
    return message_id if isinstance(message_id, bytes) else str(message_id).encode()


def _age_s(message_id: bytes) -> float:
    # A stream id starts with Redis' clock in milliseconds when the event was added.
    try:
        added_ms = int(message_id.split(b"-", 1)[0])
    except ValueError:
        return 0.0
    return max(0.0, time.time() - added_ms / 1000)
