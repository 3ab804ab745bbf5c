"""Where `cache.semantic_cache.SemanticCache` keeps its vectors: the `SemanticBackend` seam and
its in-process implementation, `MemoryBackend` (the embedded default).

A backend only stores and searches; it never decides what is a hit. The cache embeds, asks a
backend for the nearest candidates of a partition and runs every candidate through the same
`cache.accept_rule.AcceptRule`, whichever backend found it. The other implementation,
`cache.semantic_redis.RedisVectorBackend`, keeps one index in Redis's Query Engine that every
replica shares.
"""

from __future__ import annotations

import functools
import math
import time
from collections.abc import Callable, Sequence
from typing import Protocol

import anyio
import msgspec
import numpy as np
import numpy.typing as npt

from cache.semantic_index import SemanticIndex

# Above this many entries a search runs in a worker thread, so the event loop stays free. Below
# it the hop costs more than it frees: at 100k entries (the default size) a search took p50
# 0.47 ms inline against 0.75-0.86 ms through `anyio.to_thread`, where it also runs slower; at
# the cache's threshold inline it is 0.32 ms, about what the loop spends on one exact-cache hit.
# Measured with the C kernels (cache.hamming); numpy's passes take ~1.7x as long.
_THREAD_SEARCH_ABOVE = 150_000

DEFAULT_LISTED = 100  # entries an operator's listing returns unless asked for another count
MAX_LISTED = 1000  # the most one listing (or one removal by ids) may name

Partition = tuple[str, str, str]
"""``(tenant, tier, embedder)``: entries are only ever compared within one."""
F32 = npt.NDArray[np.float32]


class SemanticEntry(msgspec.Struct, frozen=True):
    """A stored answer: the normalised query it answered, the caller's payload, and the
    invalidation tags it was stored with (e.g. knowledge-base document ids)."""

    id: str
    query: str
    payload: bytes
    tenant: str
    tier: str
    tags: tuple[str, ...] = ()


class ListedEntry(msgspec.Struct, frozen=True):
    """A live entry as an operator sees it: what it answered, where, and for how long still
    (``expires_in_s`` None: no expiry). No payload, no vector."""

    id: str
    query: str
    tenant: str
    tier: str
    tags: tuple[str, ...]
    expires_in_s: float | None


class SemanticBackend(Protocol):
    """Stores entries with their vectors and finds the nearest ones of a partition.

    Failures of a remote backend raise `cache.errors.CacheError` (``StoreUnavailable``).
    """

    @property
    def kind(self) -> str:
        """``memory`` or ``redis``: for logs, metrics and the bench."""
        ...

    def may_hold(self, partition: Partition) -> bool:
        """False only when the partition surely holds nothing (then a lookup need not embed)."""
        ...

    async def search(
        self, vector: F32, partition: Partition, k: int, *, floor: float | None = None
    ) -> list[tuple[SemanticEntry, float]]:
        """Up to ``k`` live entries of ``partition`` with their cosine to ``vector``, best first
        (empty on a miss). ``floor``: the lowest score the caller acts on; a backend may then
        find lower-scoring entries less exhaustively (or ignore it)."""
        ...

    async def add(
        self, entry: SemanticEntry, vector: F32, partition: Partition, ttl_s: float
    ) -> None:
        """Insert or replace ``entry`` for ``ttl_s`` seconds (``inf``: no expiry)."""
        ...

    async def touch(self, entry_id: str) -> None:
        """Note that ``entry_id`` served a hit (eviction spares it once)."""
        ...

    async def remove(self, entry_ids: Sequence[str]) -> list[SemanticEntry]:
        """Forget the entries with these ids; return those that were there (none: empty)."""
        ...

    async def remove_where(self, predicate: Callable[[SemanticEntry], bool]) -> list[SemanticEntry]:
        """Forget and return every entry ``predicate`` accepts (an admin path: may scan all)."""
        ...

    async def remove_tag(
        self, tag: str, tags_of: Callable[[SemanticEntry], Sequence[str]]
    ) -> list[SemanticEntry]:
        """Forget and return every entry tagged ``tag``; ``tags_of`` reads an entry's tags
        when the backend does not index them itself."""
        ...

    async def list_entries(
        self,
        *,
        tenant: str | None = None,
        tag: str | None = None,
        contains: str | None = None,
        limit: int = DEFAULT_LISTED,
        tags_of: Callable[[SemanticEntry], Sequence[str]] | None = None,
    ) -> list[ListedEntry]:
        """Up to ``limit`` live entries, newest first, of ``tenant``, tagged ``tag``, whose
        question holds ``contains`` (case-insensitive); each filter applies when given. An
        admin path: may scan every entry. ``tags_of`` as for `remove_tag`. Empty when none
        match; ValueError when ``limit`` is not in ``[1, MAX_LISTED]``."""
        ...


class MemoryBackend:
    """The in-process `SemanticIndex` plus the entries it points at; one per process."""

    kind = "memory"

    def __init__(
        self,
        dim: int,
        max_entries: int,
        *,
        clock: Callable[[], float] = time.monotonic,
        native: bool = True,
    ) -> None:
        """``native``: stage 1 in the C kernels when they were built (see `cache.hamming`)."""
        self._index = SemanticIndex(dim, max_entries, clock=clock, native=native)
        self._entries: dict[str, SemanticEntry] = {}
        self._clock = clock
        self._lock = anyio.Lock()  # the index is not thread-safe; searches may run in a thread

    def __len__(self) -> int:
        return len(self._entries)

    def may_hold(self, partition: Partition) -> bool:
        return bool(self._entries)

    async def search(
        self, vector: F32, partition: Partition, k: int, *, floor: float | None = None
    ) -> list[tuple[SemanticEntry, float]]:
        search = functools.partial(self._index.search, vector, partition, k, floor=floor)
        async with self._lock:
            if len(self._index) > _THREAD_SEARCH_ABOVE:
                found = await anyio.to_thread.run_sync(search)
            else:
                found = search()
            return [(self._entries[item_id], score) for item_id, score in found]

    async def add(
        self, entry: SemanticEntry, vector: F32, partition: Partition, ttl_s: float
    ) -> None:
        expires_at = self._clock() + ttl_s if math.isfinite(ttl_s) else math.inf
        async with self._lock:
            for old in self._index.add(entry.id, vector, partition, expires_at):
                self._entries.pop(old, None)
            # Re-inserted, not updated in place: the dict's order is then the order of writes,
            # which is what a listing's "newest first" reads.
            self._entries.pop(entry.id, None)
            self._entries[entry.id] = entry

    async def touch(self, entry_id: str) -> None:
        self._index.touch(entry_id)

    async def remove(self, entry_ids: Sequence[str]) -> list[SemanticEntry]:
        removed = []
        async with self._lock:
            for entry_id in dict.fromkeys(entry_ids):
                entry = self._entries.pop(entry_id, None)
                self._index.remove(entry_id)
                if entry is not None:
                    removed.append(entry)
        return removed

    async def remove_where(self, predicate: Callable[[SemanticEntry], bool]) -> list[SemanticEntry]:
        async with self._lock:
            doomed = [entry for entry in self._entries.values() if predicate(entry)]
            for entry in doomed:
                del self._entries[entry.id]
                self._index.remove(entry.id)
        return doomed

    async def remove_tag(
        self, tag: str, tags_of: Callable[[SemanticEntry], Sequence[str]]
    ) -> list[SemanticEntry]:
        # Entries replicated from another process carry their tags only inside the payload.
        return await self.remove_where(lambda e: tag in e.tags or tag in tags_of(e))

    async def list_entries(
        self,
        *,
        tenant: str | None = None,
        tag: str | None = None,
        contains: str | None = None,
        limit: int = DEFAULT_LISTED,
        tags_of: Callable[[SemanticEntry], Sequence[str]] | None = None,
    ) -> list[ListedEntry]:
        check_limit(limit)
        needle = contains.casefold() if contains else None
        found: list[ListedEntry] = []
        async with self._lock:
            now = self._clock()
            for entry in reversed(self._entries.values()):
                if tenant is not None and entry.tenant != tenant:
                    continue
                if needle is not None and needle not in entry.query.casefold():
                    continue
                expires_at = self._index.expires_at(entry.id)
                if expires_at is None or expires_at <= now:
                    continue
                # Entries replicated from another process carry their tags only inside the
                # payload.
                tags = entry.tags or (tuple(tags_of(entry)) if tags_of is not None else ())
                if tag is not None and tag not in tags:
                    continue
                left = expires_at - now if math.isfinite(expires_at) else None
                found.append(
                    ListedEntry(entry.id, entry.query, entry.tenant, entry.tier, tags, left)
                )
                if len(found) == limit:
                    break
        return found

    async def purge_expired(self) -> int:
        """Drop expired entries now (they are otherwise reclaimed lazily); return how many."""
        async with self._lock:
            purged = self._index.purge_expired()
            for item_id in purged:
                self._entries.pop(item_id, None)
            return len(purged)


def check_limit(limit: int) -> None:
    """ValueError unless ``limit`` is a count one listing or removal may ask for."""
    if not 1 <= limit <= MAX_LISTED:
        raise ValueError(f"limit must be between 1 and {MAX_LISTED}")
