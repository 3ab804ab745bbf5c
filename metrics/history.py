"""`History`: the dashboard's charts, kept server-side as per-minute aggregates.

Every call `metrics.cost_tracker.CostTracker` records is also added here, to the bucket of
its minute (``bucket_s``), once for all tenants (scope ``*``) and once for its tenant
(``t:<tenant>``): calls, cost, savings by mechanism (`metrics.savings`), cache hits, route
tiers, spend per model and a latency histogram. With Redis every replica adds into the same
rows, so all replicas and a reloaded page draw the same charts. Rows expire after
``retention_s`` (a day by default), so the store stays bounded.

Latency percentiles per point are estimated from the histogram (linear inside a bucket of
`LATENCY_BOUNDS_MS`): fleet-wide, unlike ``/stats``' exact per-replica window.
Model and tenant names are bounded per process (``max_names``; later ones count as
``other``), as callers can choose them.
"""

from __future__ import annotations

import bisect
import math
import time
from collections import Counter
from collections.abc import Callable, Mapping
from typing import Final

import msgspec

from metrics.cost_tracker import CallRecord
from metrics.history_store import HistoryStore
from metrics.savings import SavedSplit, saved_split

ALL: Final = "*"
OTHER: Final = "other"
MAX_POINTS: Final = 240
"""A read merges buckets so that a window has at most this many points."""
LATENCY_BOUNDS_MS: Final = (
    5, 10, 25, 50, 100, 250, 500, 1_000, 2_500, 5_000, 10_000, 30_000, 60_000,
)  # fmt: skip
"""Upper bounds of the latency histogram's buckets; the last bucket is open-ended."""

_SAVED = ("saved_exact", "saved_semantic", "saved_routing", "saved_batch")


class HistoryPoint(msgspec.Struct, frozen=True):
    """One point: the sums over ``[t, t + step_s)``. Percentiles are None without samples."""

    t: int
    calls: int
    cost_usd_micros: int
    saved: SavedSplit
    exact_hits: int
    semantic_hits: int
    fallbacks: int
    unpriced_calls: int
    by_tier: dict[str, int]
    cost_by_model: dict[str, int]
    latency_p50_ms: float | None
    latency_p95_ms: float | None
    ttft_p50_ms: float | None


class HistoryView(msgspec.Struct, frozen=True):
    """What ``GET /stats/history`` answers: the points of the last ``window_s`` seconds
    for ``tenant`` (None: all tenants), oldest first, and the tenants seen in that window."""

    tenant: str | None
    window_s: int
    step_s: int
    bucket_s: int
    retention_s: int
    generated_at: float
    tenants: list[str]
    points: list[HistoryPoint]
    partial: bool = False
    """The store could not answer: no points (the page keeps what it drew)."""


class History:
    """Adds calls to per-bucket rows of a `HistoryStore` and reads them back as points."""

    def __init__(
        self,
        store: HistoryStore,
        *,
        bucket_s: int = 60,
        retention_s: int = 86_400,
        clock: Callable[[], float] = time.time,
        max_names: int = 50,
    ) -> None:
        if bucket_s < 1 or retention_s < bucket_s:
            raise ValueError("bucket_s must be >= 1 and retention_s >= bucket_s")
        self.store = store
        self.bucket_s = bucket_s
        self.retention_s = retention_s
        self._clock = clock
        self._max_names = max_names
        self._names: dict[str, set[str]] = {"model": set(), "tenant": set()}

    async def add(self, call: CallRecord, now: float) -> None:
        """Add ``call`` to the bucket of ``now``. Raises `cache.errors.StoreUnavailable`."""
        tenant = self._bounded("tenant", call.tenant)
        row = _row(call, self._bounded("model", call.model))
        everyone = {**row, f"tenant:{tenant}": 1}
        bucket = math.floor(now) // self.bucket_s
        rows = {ALL: everyone, f"t:{tenant}": row}
        await self.store.add(bucket, rows, ttl_s=self.retention_s + self.bucket_s, now=now)

    async def read(self, *, tenant: str | None, window_s: int) -> HistoryView:
        """The points of the last ``window_s`` seconds (capped at the retention) for one
        tenant or all. Raises `cache.errors.StoreUnavailable`."""
        now = self._clock()
        window_s = max(self.bucket_s, min(window_s, self.retention_s))
        count = max(1, window_s // self.bucket_s)
        per_point = max(1, math.ceil(count / MAX_POINTS))
        current = math.floor(now) // self.bucket_s
        first = (current - count + 1) // per_point * per_point
        buckets = list(range(first, current + 1))
        everyone = await self.store.read(ALL, buckets)
        rows = everyone if tenant is None else await self.store.read(f"t:{tenant}", buckets)
        tenants = sorted(
            {field[7:] for row in everyone.values() for field in row if field[:7] == "tenant:"}
        )
        points = []
        for start in range(first, current + 1, per_point):
            merged: Counter[str] = Counter()
            for bucket in range(start, start + per_point):
                merged.update(rows.get(bucket, {}))
            points.append(_point(start * self.bucket_s, merged))
        return HistoryView(
            tenant=tenant,
            window_s=count * self.bucket_s,
            step_s=per_point * self.bucket_s,
            bucket_s=self.bucket_s,
            retention_s=self.retention_s,
            generated_at=round(now, 3),
            tenants=tenants,
            points=points,
        )

    def _bounded(self, kind: str, name: str) -> str:
        seen = self._names[kind]
        if name in seen:
            return name
        if len(seen) < self._max_names:
            seen.add(name)
            return name
        return OTHER


def _row(call: CallRecord, model: str) -> dict[str, int]:
    saved = call.cache_saved_usd_micros
    row = {
        "calls": 1,
        "cost": call.cost_usd_micros,
        "unpriced": 0 if call.cost_known else 1,
        "fallbacks": int(call.used_fallback),
        "hit_exact": int(call.cache_layer == "exact"),
        "hit_semantic": int(call.cache_layer == "semantic"),
        "saved_exact": saved if call.cache_layer == "exact" else 0,
        "saved_semantic": saved if call.cache_layer == "semantic" else 0,
        "saved_routing": call.routing_saved_usd_micros,
        "saved_batch": call.batch_saved_usd_micros,
        f"tier:{call.tier}": 1,
    }
    if call.cost_usd_micros:
        row[f"model:{model}"] = call.cost_usd_micros
    if call.latency_ms is not None:
        row[f"lat:{_slot(call.latency_ms)}"] = 1
    if call.ttft_ms is not None:
        row[f"ttft:{_slot(call.ttft_ms)}"] = 1
    return row


def _slot(ms: float) -> int:
    return bisect.bisect_left(LATENCY_BOUNDS_MS, ms)


def _point(t: int, row: Mapping[str, int]) -> HistoryPoint:
    def prefixed(prefix: str) -> dict[str, int]:
        n = len(prefix)
        return {k[n:]: v for k, v in sorted(row.items()) if k[:n] == prefix and v}

    latency = prefixed("lat:")
    ttft = prefixed("ttft:")
    return HistoryPoint(
        t=t,
        calls=row.get("calls", 0),
        cost_usd_micros=row.get("cost", 0),
        saved=saved_split(*(row.get(name, 0) for name in _SAVED)),
        exact_hits=row.get("hit_exact", 0),
        semantic_hits=row.get("hit_semantic", 0),
        fallbacks=row.get("fallbacks", 0),
        unpriced_calls=row.get("unpriced", 0),
        by_tier=prefixed("tier:"),
        cost_by_model=prefixed("model:"),
        latency_p50_ms=percentile(latency, 50),
        latency_p95_ms=percentile(latency, 95),
        ttft_p50_ms=percentile(ttft, 50),
    )


def percentile(histogram: Mapping[str, int], q: int) -> float | None:
    """The ``q``-th percentile estimated from slot counts (slot ``i`` covers
    ``(LATENCY_BOUNDS_MS[i-1], LATENCY_BOUNDS_MS[i]]``), linear inside the slot; None when
    empty. The open last slot reports its lower bound."""
    counts = [0] * (len(LATENCY_BOUNDS_MS) + 1)
    for slot, n in histogram.items():
        counts[min(int(slot), len(LATENCY_BOUNDS_MS))] += n
    total = sum(counts)
    if not total:
        return None
    rank = q / 100 * total
    seen = 0
    for i, n in enumerate(counts):
        if n and seen + n >= rank:
            low = 0 if i == 0 else LATENCY_BOUNDS_MS[i - 1]
            if i == len(LATENCY_BOUNDS_MS):
                return float(low)
            high = LATENCY_BOUNDS_MS[i]
            return round(low + (high - low) * max(rank - seen, 0) / n, 1)
        seen += n
    return float(LATENCY_BOUNDS_MS[-1])
