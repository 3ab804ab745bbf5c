"""`RedisVectorBackend`: the semantic cache's entries in Redis's Query Engine, one index that
every replica searches (no replication code: a write on one replica is a hit on the next).

Each entry is a hash under ``namespace + "semvfloat16:" + <embedder digest> + ":" + <entry id>``
(``"semv:"`` for a FLOAT32 index, whose index name lacks the suffix too):

* ``vec``: the vector in half precision (``vector_type``, FLOAT16 by default: ~35 % less
  memory at 1M entries and faster distances; scores move by < 1e-3), indexed ``VECTOR HNSW``
  with ``DISTANCE_METRIC COSINE``;
* ``part``: TAG, a digest of ``(tenant, tier, embedder)``; a search only ever sees its own
  partition (``(@part:{…})=>[KNN k @vec $q AS score]``), so context never leaks across;
* ``tenant``: TAG, for an operator listing or flushing one tenant;
* ``tags``: TAG, digests of the invalidation tags (knowledge-base document ids); digests, so
  no tag needs escaping in a query;
* ``ts``: NUMERIC SORTABLE, the wall-clock second it was written, so an operator's listing
  comes newest first (an index made before this field existed gets it with ``FT.ALTER``);
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
import string
import time
from collections.abc import Callable, Sequence
from typing import Any, Final, Literal

import msgspec
import redis.asyncio as redis
from redis.exceptions import ResponseError

from cache.keys import DEFAULT_NAMESPACE
from cache.redis_store import redis_op
from cache.semantic_backend import (
    DEFAULT_LISTED,
    F32,
    ListedEntry,
    Partition,
    SemanticEntry,
    check_limit,
)

VectorType = Literal["FLOAT32", "FLOAT16"]
_DTYPES: Final[dict[str, str]] = {"FLOAT32": "<f4", "FLOAT16": "<f2"}
_HNSW_M: Final = 16
_HNSW_EF_CONSTRUCTION: Final = 100  # each store inserts on Redis's main thread
_HNSW_EF_RUNTIME: Final = 64  # k is 4: a wider beam keeps recall near 1 at 1M entries
_TS_FIELD: Final = ("ts", "NUMERIC", "SORTABLE")
_PAGE: Final = 1000  # entries per FT.SEARCH page on the admin paths
_FIELDS: Final = ("q", "tier", "tenant", "p", "tg")
_LISTED_FIELDS: Final = ("q", "tier", "tenant", "tg")  # a listing shows no payload
_TAG_SPECIAL: Final = frozenset(string.punctuation + string.whitespace)
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
        ef_runtime: int = _HNSW_EF_RUNTIME,
        vector_type: VectorType = "FLOAT16",
    ) -> None:
        if op_timeout_s <= 0:
            raise ValueError("op_timeout_s must be positive")
        if ef_runtime < 1:
            raise ValueError("ef_runtime must be at least 1")
        self._client = client
        self._ef = ef_runtime
        self._type = vector_type
        self._dtype = _DTYPES[vector_type]
        self._dim = dim
        self._timeout = op_timeout_s
        # Vectors of two embedders never share an index (their dimensions may even differ).
        model = _digest(embedder)
        # Another vector type is another index over other keys: a FLOAT16 index cannot read
        # the FLOAT32 blobs of the same entries.
        kind = "" if vector_type == "FLOAT32" else vector_type.lower()
        self.index_name = f"{namespace}semidx{kind}:{model}"
        self.key_prefix = f"{namespace}semv{kind}:{model}:"
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
            "TYPE", self._type, "DIM", str(self._dim), "DISTANCE_METRIC", "COSINE",
            "M", str(_HNSW_M), "EF_CONSTRUCTION", str(_HNSW_EF_CONSTRUCTION),
            "EF_RUNTIME", str(_HNSW_EF_RUNTIME),
            "part", "TAG",
            "tenant", "TAG",
            "tags", "TAG", "SEPARATOR", _TAG_SEP,
            *_TS_FIELD,
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
                await self._add_ts_field()
        self._ready = True

    async def _add_ts_field(self) -> None:
        # An index created by an older Frugal has no ``ts``: add it (replicas still on the old
        # code ignore it; entries written without it list last).
        try:
            await _command(self._client, "FT.ALTER", self.index_name, "SCHEMA", "ADD", *_TS_FIELD)
        except ResponseError as exc:
            if "duplicate field" not in str(exc).lower():
                raise

    async def search(
        self, vector: F32, partition: Partition, k: int, *, floor: float | None = None
    ) -> list[tuple[SemanticEntry, float]]:
        # ``floor`` is ignored: HNSW's beam already bounds the work.
        await self.ensure_index()
        # The beam width travels with each query: indexes made with another EF_RUNTIME agree.
        knn = f"KNN {k} @vec $q EF_RUNTIME {self._ef} AS score"
        query = f"(@part:{{{_partition_tag(partition)}}})=>[{knn}]"
        with redis_op("FT.SEARCH", self._timeout):
            reply = await _command(
                self._client,
                "FT.SEARCH", self.index_name, query,
                "PARAMS", "2", "q", _blob(vector, self._dtype),
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
            "vec": _blob(vector, self._dtype),
            "part": _partition_tag(partition),
            "tenant": entry.tenant,
            "tags": _TAG_SEP.join(_digest(tag) for tag in entry.tags),
            "tg": _RAW_TAG_SEP.join(entry.tags),
            "q": entry.query,
            "tier": entry.tier,
            "p": entry.payload,
            "ts": repr(time.time()),
        }

    async def touch(self, entry_id: str) -> None:
        """Nothing to do: Redis evicts by its own ``maxmemory-policy``."""

    async def remove(self, entry_ids: Sequence[str]) -> list[SemanticEntry]:
        keys = [self.key_prefix + entry_id for entry_id in dict.fromkeys(entry_ids)]
        if not keys:
            return []
        # Read and delete in one transaction: what is returned is exactly what was deleted.
        with redis_op("DEL", max(self._timeout, 2.0) if len(keys) > 1 else self._timeout):
            async with self._client.pipeline(transaction=True) as pipe:
                for key in keys:
                    pipe.hmget(key, list(_FIELDS))
                pipe.delete(*keys)
                replies = await pipe.execute()
        removed = []
        for key, values in zip(keys, replies[:-1], strict=True):
            fields = {
                name.encode(): value
                for name, value in zip(_FIELDS, values, strict=True)
                if value is not None
            }
            entry = self._entry(key.encode(), fields)
            if entry is not None:
                removed.append(entry)
        return removed

    async def remove_where(self, predicate: Callable[[SemanticEntry], bool]) -> list[SemanticEntry]:
        return await self._remove_matching("*", predicate)

    async def remove_tag(
        self, tag: str, tags_of: Callable[[SemanticEntry], Sequence[str]]
    ) -> list[SemanticEntry]:
        # Every entry stored here was stored with its tags: the index answers alone.
        return await self._remove_matching(f"@tags:{{{_digest(tag)}}}", lambda _: True)

    async def list_entries(
        self,
        *,
        tenant: str | None = None,
        tag: str | None = None,
        contains: str | None = None,
        limit: int = DEFAULT_LISTED,
        tags_of: Callable[[SemanticEntry], Sequence[str]] | None = None,
    ) -> list[ListedEntry]:
        # Tenant and tag are filtered by the index; the question's substring here (``q`` is
        # not indexed as text: a full-text index would cost memory on every entry).
        check_limit(limit)
        await self.ensure_index()
        filters = []
        if tenant:
            filters.append(f"@tenant:{{{_tag_literal(tenant)}}}")
        if tag is not None:
            filters.append(f"@tags:{{{_digest(tag)}}}")
        query = " ".join(filters) or "*"
        needle = contains.casefold() if contains else None
        page_size = limit if needle is None else _PAGE
        found: dict[str, ListedEntry] = {}
        offset = 0
        while len(found) < limit:
            with redis_op("FT.SEARCH", max(self._timeout, 2.0)):
                reply = await _command(
                    self._client,
                    "FT.SEARCH", self.index_name, query,
                    "SORTBY", "ts", "DESC",
                    "RETURN", str(len(_LISTED_FIELDS)), *_LISTED_FIELDS,
                    "LIMIT", str(offset), str(page_size), "DIALECT", "2",
                )  # fmt: skip
            page = _documents(reply)
            for key, fields in page:
                listed = self._listed(key, fields)
                if listed is None or (tenant is not None and listed.tenant != tenant):
                    continue  # gone meanwhile, or a tenant differing in case (TAGs fold it)
                if needle is None or needle in listed.query.casefold():
                    found[key.decode()] = listed
                if len(found) == limit:
                    break
            if len(page) < page_size:
                break
            offset += page_size
        return await self._with_ttls(found)

    async def _with_ttls(self, found: dict[str, ListedEntry]) -> list[ListedEntry]:
        if not found:
            return []
        with redis_op("PTTL", max(self._timeout, 2.0)):
            async with self._client.pipeline(transaction=False) as pipe:
                for key in found:
                    pipe.pttl(key)
                ttls = await pipe.execute()
        listed = []
        for entry, pttl in zip(found.values(), ttls, strict=True):
            if pttl == -2 or pttl == 0:
                continue  # expired since the search
            expires_in_s = None if pttl == -1 else pttl / 1000
            listed.append(msgspec.structs.replace(entry, expires_in_s=expires_in_s))
        return listed

    def _listed(self, key: bytes, fields: dict[bytes, bytes]) -> ListedEntry | None:
        try:
            tags = fields.get(b"tg", b"")
            return ListedEntry(
                id=key.decode().removeprefix(self.key_prefix),
                query=fields[b"q"].decode(),
                tenant=fields[b"tenant"].decode(),
                tier=fields[b"tier"].decode(),
                tags=tuple(tags.decode().split(_RAW_TAG_SEP)) if tags else (),
                expires_in_s=None,
            )
        except (KeyError, UnicodeDecodeError):
            return None

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


def _tag_literal(value: str) -> str:
    # Inside ``{…}`` a TAG query treats ASCII punctuation and spaces as syntax: escape them.
    # Other characters must stay as they are (an escaped "ï" matches nothing).
    return "".join("\\" + char if char in _TAG_SPECIAL else char for char in value)


def _partition_tag(partition: Partition) -> str:
    return _digest("\x1f".join(partition))


def _digest(text: str) -> str:
    # Hex only: safe as a TAG value and in a key without escaping.
    return hashlib.blake2b(text.encode(), digest_size=12).hexdigest()


def _blob(vector: F32, dtype: str) -> bytes:
    return vector.astype(dtype, copy=False).tobytes()


def _documents(reply: Any) -> list[tuple[bytes, dict[bytes, bytes]]]:
    """``[total, key, [field, value, …], key, …]`` as ``(key, fields)`` pairs."""
    out = []
    for i in range(1, len(reply) - 1, 2):
        flat = reply[i + 1] or []
        out.append((reply[i], dict(zip(flat[::2], flat[1::2], strict=True))))
    return out
