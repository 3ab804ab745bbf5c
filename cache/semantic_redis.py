"""`RedisVectorBackend`: the semantic cache's entries in Redis's Query Engine, one index that
every replica searches (no replication code: a write on one replica is a hit on the next).

Each entry is a hash under ``namespace + "semv:" + <embedder digest> + ":" + <entry id>``:

* ``vec``: the float32 vector, indexed ``VECTOR HNSW`` with ``DISTANCE_METRIC COSINE``;
* ``part``: TAG, a digest of ``(tenant, tier, embedder)``; a search only ever sees its own
  partition (``(@part:{…})=>[KNN k @vec $q AS score]``), so context never leaks across;
* ``tenant``: TAG, for an operator listing or flushing one tenant;
* ``tags``: TAG, digests of the invalidation tags (knowledge-base document ids); digests, so
  no tag needs escaping in a query;
* ``q``, ``tier``, ``p``, ``tg``: the normalised question, the tier, the payload and the tags
  themselves (not indexed).

The key's TTL is the entry's. The index is created on first use (``FT.CREATE`` is idempotent
here: "Index already exists" is fine). Every command is bounded by ``op_timeout_s``; failures
raise `cache.errors.StoreUnavailable`, which the callers treat as a miss / skipped write.
The guards run above this module, in `cache.semantic_cache.SemanticCache`, exactly as for the
in-process backend.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Callable, Sequence
from typing import Any, Final

import redis.asyncio as redis
from redis.exceptions import ResponseError

from cache.keys import DEFAULT_NAMESPACE
from cache.redis_store import redis_op
from cache.semantic_backend import F32, Partition, SemanticEntry

_HNSW_M: Final = 16
_HNSW_EF_CONSTRUCTION: Final = 100  # each store inserts on Redis's main thread
_HNSW_EF_RUNTIME: Final = 64  # k is 4: a wider beam keeps recall near 1 at 1M entries
_PAGE: Final = 1000  # entries per FT.SEARCH page on the admin paths
_FIELDS: Final = ("q", "tier", "tenant", "p", "tg")
_TAG_SEP: Final = ","  # between digests in the indexed ``tags`` field
_RAW_TAG_SEP: Final = "\x1f"  # between the tags themselves in ``tg``


class RedisVectorBackend:
    """A `cache.semantic_backend.SemanticBackend` on ``FT.CREATE … VECTOR HNSW``."""

    kind = "redis"

    def __init__(
        self,
        client: redis.Redis,
        *,
        dim: int,
        embedder: str,
        namespace: str = DEFAULT_NAMESPACE,
        op_timeout_s: float = 0.25,
    ) -> None:
        if op_timeout_s <= 0:
            raise ValueError("op_timeout_s must be positive")
        self._client = client
        self._dim = dim
        self._timeout = op_timeout_s
        # Vectors of two embedders never share an index (their dimensions may even differ).
        model = _digest(embedder)
        self.index_name = f"{namespace}semidx:{model}"
        self.key_prefix = f"{namespace}semv:{model}:"
        self._ready = False

    def may_hold(self, partition: Partition) -> bool:
        return True  # knowing would cost a round trip; the search answers as cheaply

    async def ensure_index(self) -> None:
        """Create the index unless it exists. Raises `StoreUnavailable` when Redis cannot
        (e.g. it has no Query Engine: ``unknown command 'FT.CREATE'``)."""
        if self._ready:
            return
        schema = (
            "SCHEMA",
            "vec", "VECTOR", "HNSW", "12",
            "TYPE", "FLOAT32", "DIM", str(self._dim), "DISTANCE_METRIC", "COSINE",
            "M", str(_HNSW_M), "EF_CONSTRUCTION", str(_HNSW_EF_CONSTRUCTION),
            "EF_RUNTIME", str(_HNSW_EF_RUNTIME),
            "part", "TAG",
            "tenant", "TAG",
            "tags", "TAG", "SEPARATOR", _TAG_SEP,
        )  # fmt: skip
        with redis_op("FT.CREATE", max(self._timeout, 2.0)):
            try:
                await _command(
                    self._client,
                    "FT.CREATE", self.index_name, "ON", "HASH",
                    "PREFIX", "1", self.key_prefix, *schema,
                )  # fmt: skip
            except ResponseError as exc:
                if "already exists" not in str(exc).lower():
                    raise
        self._ready = True

    async def search(
        self, vector: F32, partition: Partition, k: int
    ) -> list[tuple[SemanticEntry, float]]:
        await self.ensure_index()
        query = f"(@part:{{{_partition_tag(partition)}}})=>[KNN {k} @vec $q AS score]"
        with redis_op("FT.SEARCH", self._timeout):
            reply = await _command(
                self._client,
                "FT.SEARCH", self.index_name, query,
                "PARAMS", "2", "q", _blob(vector),
                "SORTBY", "score", "ASC",
                "RETURN", str(len(_FIELDS) + 1), "score", *_FIELDS,
                "LIMIT", "0", str(k), "DIALECT", "2",
            )  # fmt: skip
        found = []
        for key, fields in _documents(reply):
            entry = self._entry(key, fields)
            distance = fields.get(b"score")
            if entry is None or distance is None:
                continue  # a key that expired between the search and the load
            found.append((entry, 1.0 - float(distance)))
        return found

    async def add(
        self, entry: SemanticEntry, vector: F32, partition: Partition, ttl_s: float
    ) -> None:
        await self.add_many([(entry, vector, partition, ttl_s)])

    async def add_many(self, items: Sequence[tuple[SemanticEntry, F32, Partition, float]]) -> None:
        """`add` for many entries in one round trip (a warm load, a bench fill)."""
        await self.ensure_index()
        with redis_op("HSET", self._timeout * max(1, len(items) // 100)):
            async with self._client.pipeline(transaction=True) as pipe:
                for entry, vector, partition, ttl_s in items:
                    key = self.key_prefix + entry.id
                    pipe.delete(key)  # a replaced entry must not keep an older TTL or tags
                    pipe.hset(key, mapping=self._mapping(entry, vector, partition))
                    if math.isfinite(ttl_s):
                        pipe.pexpire(key, max(1, math.ceil(ttl_s * 1000)))
                await pipe.execute()

    def _mapping(
        self, entry: SemanticEntry, vector: F32, partition: Partition
    ) -> dict[str | bytes, bytes | str]:
        return {
            "vec": _blob(vector),
            "part": _partition_tag(partition),
            "tenant": entry.tenant,
            "tags": _TAG_SEP.join(_digest(tag) for tag in entry.tags),
            "tg": _RAW_TAG_SEP.join(entry.tags),
            "q": entry.query,
            "tier": entry.tier,
            "p": entry.payload,
        }

    async def touch(self, entry_id: str) -> None:
        """Nothing to do: Redis evicts by its own ``maxmemory-policy``."""

    async def remove(self, entry_id: str) -> bool:
        with redis_op("DEL", self._timeout):
            return bool(await self._client.delete(self.key_prefix + entry_id))

    async def remove_where(self, predicate: Callable[[SemanticEntry], bool]) -> list[SemanticEntry]:
        return await self._remove_matching("*", predicate)

    async def remove_tag(
        self, tag: str, tags_of: Callable[[SemanticEntry], Sequence[str]]
    ) -> list[SemanticEntry]:
        # Every entry stored here was stored with its tags: the index answers alone.
        return await self._remove_matching(f"@tags:{{{_digest(tag)}}}", lambda _: True)

    async def count(self) -> int:
        """Entries the index holds now (``FT.SEARCH … LIMIT 0 0``)."""
        await self.ensure_index()
        with redis_op("FT.SEARCH", self._timeout):
            reply = await _command(
                self._client, "FT.SEARCH", self.index_name, "*", "LIMIT", "0", "0", "DIALECT", "2"
            )
        return int(reply[0])

    async def _remove_matching(
        self, query: str, predicate: Callable[[SemanticEntry], bool]
    ) -> list[SemanticEntry]:
        await self.ensure_index()
        doomed: dict[str, SemanticEntry] = {}
        offset = 0
        while True:
            with redis_op("FT.SEARCH", max(self._timeout, 2.0)):
                reply = await _command(
                    self._client,
                    "FT.SEARCH", self.index_name, query,
                    "RETURN", str(len(_FIELDS)), *_FIELDS,
                    "LIMIT", str(offset), str(_PAGE), "DIALECT", "2",
                )  # fmt: skip
            page = list(_documents(reply))
            for key, fields in page:
                entry = self._entry(key, fields)
                if entry is not None and predicate(entry):
                    doomed[key.decode()] = entry
            if len(page) < _PAGE:
                break
            offset += _PAGE
        if doomed:
            with redis_op("DEL", max(self._timeout, 2.0)):
                await self._client.delete(*doomed)
        return list(doomed.values())

    def _entry(self, key: bytes, fields: dict[bytes, bytes]) -> SemanticEntry | None:
        try:
            tags = fields.get(b"tg", b"")
            return SemanticEntry(
                id=key.decode().removeprefix(self.key_prefix),
                query=fields[b"q"].decode(),
                payload=fields[b"p"],
                tenant=fields[b"tenant"].decode(),
                tier=fields[b"tier"].decode(),
                tags=tuple(tags.decode().split(_RAW_TAG_SEP)) if tags else (),
            )
        except (KeyError, UnicodeDecodeError):
            return None


async def has_query_engine(client: redis.Redis, timeout_s: float = 1.0) -> bool:
    """Whether this Redis serves ``FT.*`` commands (Redis 8, Redis Stack, or a server started
    with the search module). False, not an error, when it does not; raises `StoreUnavailable`
    when Redis cannot be asked."""
    with redis_op("FT._LIST", timeout_s):
        try:
            await _command(client, "FT._LIST")
        except ResponseError as exc:
            if "unknown command" in str(exc).lower():
                return False
            raise
    return True


async def _command(client: redis.Redis, *args: str | bytes) -> Any:
    # redis-py leaves execute_command untyped; module commands (FT.*) have no typed wrapper
    # in the async client that returns the raw reply this module parses.
    return await client.execute_command(*args)  # type: ignore[no-untyped-call]


def _partition_tag(partition: Partition) -> str:
    return _digest("\x1f".join(partition))


def _digest(text: str) -> str:
    # Hex only: safe as a TAG value and in a key without escaping.
    return hashlib.blake2b(text.encode(), digest_size=12).hexdigest()


def _blob(vector: F32) -> bytes:
    return vector.astype("<f4", copy=False).tobytes()


def _documents(reply: Any) -> list[tuple[bytes, dict[bytes, bytes]]]:
    """``[total, key, [field, value, …], key, …]`` as ``(key, fields)`` pairs."""
    out = []
    for i in range(1, len(reply) - 1, 2):
        flat = reply[i + 1] or []
        out.append((reply[i], dict(zip(flat[::2], flat[1::2], strict=True))))
    return out
