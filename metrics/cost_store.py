"""`CostStore`: where `metrics.cost_tracker.CostTracker` keeps its integer counters.

The store knows nothing about money: it adds integer counters under a few fixed dimensions and
keeps per-bucket spend sums that expire. `MemoryCostStore` is the in-process default;
`metrics.cost_store_redis.RedisCostStore` shares one total between replicas.

Callers choose some names (a model a passthrough provider accepts, a tenant), so every store
keeps at most ``max_names`` distinct names per dimension; later new names are added under
`OTHER` (which is not counted against the bound).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from typing import Final, Protocol

import msgspec

DIMENSIONS: Final = ("all", "model", "tier", "tenant", "layer")
"""The aggregate dimensions; ``all`` has the single name ``"all"``."""

OTHER: Final = "other"
"""Where a dimension's counters go once it holds ``max_names`` other names."""

DEFAULT_MAX_NAMES: Final = 200


class StoredCosts(msgspec.Struct, frozen=True):
    """What a store holds: ``counters[dimension][name][counter]``, spend per requested bucket
    (absent buckets are 0) and ``since``, the wall-clock second of the first record (None
    when nothing was ever recorded or it expired)."""

    counters: dict[str, dict[str, dict[str, int]]]
    spend: dict[int, int]
    since: float | None


class CostStore(Protocol):
    """Integer counters and expiring spend buckets behind `CostTracker`."""

    async def add(
        self,
        names: Mapping[str, str],
        counters: Mapping[str, int],
        *,
        bucket: int,
        spend_usd_micros: int,
        bucket_ttl_s: float,
        now: float,
        record_id: str | None = None,
    ) -> None:
        """Add ``counters`` under ``names[dimension]`` for every dimension in `DIMENSIONS`
        (under `OTHER` when that name is new and the dimension is full), add
        ``spend_usd_micros`` to ``bucket`` (which lives ``bucket_ttl_s`` seconds), and set
        ``since`` to ``now`` if unset. All of it or none of it, as one atomic step. When
        ``record_id`` was already added (within a day or so), add nothing: a replayed record
        counts once.

        Raises `cache.errors.StoreUnavailable` when the backend cannot take it.
        """
        ...

    async def read(self, buckets: Sequence[int]) -> StoredCosts:
        """Everything stored, with the spend of ``buckets`` only (missing ones read as 0).

        Raises `cache.errors.StoreUnavailable` when the backend cannot answer.
        """
        ...


class MemoryCostStore:
    """A `CostStore` in this process: exact, never fails, forgotten on restart.

    Counters live for the process; spend buckets are dropped once their TTL has passed.
    At most ``max_names`` names per dimension (plus `OTHER`).
    """

    def __init__(self, *, max_names: int = DEFAULT_MAX_NAMES) -> None:
        if max_names < 1:
            raise ValueError("max_names must be at least 1")
        self._max_names = max_names
        self._counters: defaultdict[str, defaultdict[str, defaultdict[str, int]]] = defaultdict(
            lambda: defaultdict(lambda: defaultdict(int))
        )
        self._spend: dict[int, int] = {}
        self._expires_at: dict[int, float] = {}
        self._since: float | None = None

    async def add(
        self,
        names: Mapping[str, str],
        counters: Mapping[str, int],
        *,
        bucket: int,
        spend_usd_micros: int,
        bucket_ttl_s: float,
        now: float,
        record_id: str | None = None,
    ) -> None:
        """Add the counters and spend (no await inside, so atomic on the event loop). Ids are
        not kept: this store never fails, so nothing is ever replayed into it."""
        for dimension in DIMENSIONS:
            rows = self._counters[dimension]
            name = names[dimension]
            if name not in rows and len(rows) - (OTHER in rows) >= self._max_names:
                name = OTHER
            row = rows[name]
            for counter, amount in counters.items():
                row[counter] += amount
        self._drop_expired(now)
        if spend_usd_micros:
            self._spend[bucket] = self._spend.get(bucket, 0) + spend_usd_micros
            self._expires_at[bucket] = now + bucket_ttl_s
        if self._since is None:
            self._since = now

    async def read(self, buckets: Sequence[int]) -> StoredCosts:
        """A copy of the counters and the spend of ``buckets``."""
        counters = {
            dimension: {name: dict(row) for name, row in rows.items()}
            for dimension, rows in self._counters.items()
        }
        spend = {bucket: self._spend.get(bucket, 0) for bucket in buckets}
        return StoredCosts(counters=counters, spend=spend, since=self._since)

    def _drop_expired(self, now: float) -> None:
        for bucket in [b for b, at in self._expires_at.items() if at <= now]:
            del self._spend[bucket], self._expires_at[bucket]
