"""`HistoryStore`: per-bucket integer counters behind `metrics.history.History`.

A row is one time bucket of one scope (``*`` for every tenant, ``t:<tenant>`` for one): a
mapping of counter names to integers, grown by addition, forgotten ``ttl_s`` after it was
last written. `MemoryHistoryStore` keeps them in this process;
`metrics.history_redis.RedisHistoryStore` in Redis, so every replica adds into (and reads)
the same rows.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Protocol


class HistoryStore(Protocol):
    """Counters per (scope, bucket) with a time to live."""

    async def add(
        self, bucket: int, rows: Mapping[str, Mapping[str, int]], *, ttl_s: float, now: float
    ) -> None:
        """Add ``rows[scope][counter]`` into bucket ``bucket`` of each scope; the rows live
        ``ttl_s`` seconds from ``now``. Raises `cache.errors.StoreUnavailable`."""
        ...

    async def read(self, scope: str, buckets: Sequence[int]) -> dict[int, dict[str, int]]:
        """The counters of ``scope`` in each of ``buckets`` that has any (absent: none
        recorded or expired). Raises `cache.errors.StoreUnavailable`."""
        ...


class MemoryHistoryStore:
    """A `HistoryStore` in this process (the default without Redis): exact, never fails."""

    def __init__(self) -> None:
        self._rows: dict[tuple[str, int], Counter[str]] = {}
        self._expires: dict[tuple[str, int], float] = {}
        self._now = 0.0

    async def add(
        self, bucket: int, rows: Mapping[str, Mapping[str, int]], *, ttl_s: float, now: float
    ) -> None:
        """Add the rows (no await inside: atomic on the event loop)."""
        self._now = now
        for key in [key for key, at in self._expires.items() if at <= now]:
            del self._rows[key], self._expires[key]
        for scope, counters in rows.items():
            row = self._rows.setdefault((scope, bucket), Counter())
            row.update(counters)
            self._expires[scope, bucket] = now + ttl_s

    async def read(self, scope: str, buckets: Sequence[int]) -> dict[int, dict[str, int]]:
        """Copies of the live rows of ``scope`` among ``buckets``."""
        out: dict[int, dict[str, int]] = {}
        for bucket in buckets:
            row = self._rows.get((scope, bucket))
            if row is not None and self._expires[scope, bucket] > self._now:
                out[bucket] = dict(row)
        return out
