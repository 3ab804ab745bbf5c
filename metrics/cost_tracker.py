"""`CostTracker`: what every call cost and saved, summed per model, tier, tenant and cache layer.

Money is integer micro-USD end to end. Rounding happens once per call, upstream, when
`metrics.pricing.PriceTable` prices a call (ceil); the tracker only adds integers, so the total
equals the sum of the per-response ``cost_usd_micros`` exactly. The two divisions it does are
floors: the average cost per call and the monthly estimate.

The monthly estimate is a rate, not ``total x 30``: spend in the last ``window_s`` seconds
(summed from ``bucket_s`` buckets) over the time that window covers, scaled to 30 days.
"""

from __future__ import annotations

import contextlib
import logging
import math
import time
import uuid
from collections import Counter
from collections.abc import Callable, Mapping
from typing import Final, Literal, Protocol

import anyio
import msgspec

from cache.errors import StoreUnavailable
from cache.types import Usage
from metrics.cost_journal import CostJournal, JournalEntry
from metrics.cost_store import DEFAULT_MAX_NAMES, CostStore, MemoryCostStore
from metrics.savings import SavedSplit, saved_split

_log = logging.getLogger(__name__)

MONTH_S: Final = 30 * 86_400
"""The month of `CostSnapshot.estimated_monthly_usd_micros`: 30 days."""

NO_CACHE: Final = "none"
"""The `CostSnapshot.by_cache_layer` name of calls no cache answered."""

CacheLayer = Literal["exact", "semantic"]


class CallSink(Protocol):
    """Something else every recorded call is added to (the dashboard's `metrics.history`)."""

    async def add(self, call: CallRecord, now: float) -> None:
        """Add ``call`` at wall-clock ``now``; may raise `StoreUnavailable`."""
        ...


class CallRecord(msgspec.Struct, frozen=True, kw_only=True):
    """The accounting of one request, as the pipeline reported it.

    ``tier`` is ``cheap``, ``strong``, ``explicit`` or ``cache``; ``cache_layer`` the cache that
    answered (None: the model did). ``cost_usd_micros`` is the priced part of the cost; when
    ``cost_known`` is false some model had no price and the call counts as unpriced.
    ``cache_saved_usd_micros`` is what a cache hit's answer originally cost;
    ``routing_saved_usd_micros`` what the strong model would have cost minus the actual cost.
    ``batch_saved_usd_micros`` what a batch-lane line saved against its interactive price.
    ``used_fallback``: the secondary model answered. ``latency_ms``/``ttft_ms`` (when known)
    feed the dashboard history's latency histogram. See `metrics.savings` for the definitions.
    """

    model: str
    tier: str
    tenant: str = "default"
    cache_layer: CacheLayer | None = None
    usage: Usage = msgspec.field(default_factory=Usage)
    cost_usd_micros: int = 0
    cost_known: bool = True
    cache_saved_usd_micros: int = 0
    routing_saved_usd_micros: int = 0
    batch_saved_usd_micros: int = 0
    used_fallback: bool = False
    latency_ms: float | None = None
    ttft_ms: float | None = None

    def __post_init__(self) -> None:
        if (
            min(
                self.cost_usd_micros,
                self.cache_saved_usd_micros,
                self.routing_saved_usd_micros,
                self.batch_saved_usd_micros,
            )
            < 0
        ):
            raise ValueError("costs and savings are zero or more micro-USD")


class CostTotals(msgspec.Struct, frozen=True):
    """Sums over a set of calls. ``prompt_tokens`` includes the cached and cache-write tokens
    (as `Usage.prompt` does). ``cost_usd_micros`` is a lower bound when ``unpriced_calls`` > 0.
    ``avg_cost_usd_micros`` is ``cost_usd_micros // calls`` (floor; 0 without calls);
    ``saved_usd_micros`` is cache plus routing plus batch savings (`split` gives them by
    mechanism, as `metrics.savings` defines them); ``estimated_usage_calls`` counts calls
    whose tokens we counted ourselves (e.g. a stream cut before the provider's usage);
    ``fallbacks`` calls the secondary model answered."""

    calls: int = 0
    unpriced_calls: int = 0
    estimated_usage_calls: int = 0
    fallbacks: int = 0
    prompt_tokens: int = 0
    cached_prompt_tokens: int = 0
    cache_write_tokens: int = 0
    completion_tokens: int = 0
    cost_usd_micros: int = 0
    cache_saved_usd_micros: int = 0
    routing_saved_usd_micros: int = 0
    exact_saved_usd_micros: int = 0
    semantic_saved_usd_micros: int = 0
    batch_saved_usd_micros: int = 0
    saved_usd_micros: int = 0
    avg_cost_usd_micros: int = 0

    def split(self) -> SavedSplit:
        """The savings by mechanism."""
        return saved_split(
            self.exact_saved_usd_micros,
            self.semantic_saved_usd_micros,
            self.routing_saved_usd_micros,
            self.batch_saved_usd_micros,
        )

    @classmethod
    def from_counters(cls, counters: Mapping[str, int]) -> CostTotals:
        """Totals from stored counters; the derived fields are computed here, not stored."""
        known = {name: counters.get(name, 0) for name in _COUNTERS}
        calls, cost = known["calls"], known["cost_usd_micros"]
        return cls(
            **known,
            saved_usd_micros=known["cache_saved_usd_micros"]
            + known["routing_saved_usd_micros"]
            + known["batch_saved_usd_micros"],
            avg_cost_usd_micros=cost // calls if calls else 0,
        )


_COUNTERS: Final = tuple(
    name
    for name in CostTotals.__struct_fields__
    if name not in ("saved_usd_micros", "avg_cost_usd_micros")
)


class CostSnapshot(msgspec.Struct, frozen=True):
    """Everything the tracker knows, shaped for ``/stats``.

    ``window_spend_usd_micros`` is the spend of the last ``window_s`` seconds and
    ``estimated_monthly_usd_micros`` that rate scaled to 30 days (see `CostTracker`).
    ``dropped_records`` counts records *this process* lost (store unavailable and no room in
    the journal); ``journal_pending`` records wait in the local journal for the store.
    ``partial``: the store could not answer, so the totals are this process's records only.
    """

    totals: CostTotals
    by_model: dict[str, CostTotals]
    by_tier: dict[str, CostTotals]
    by_tenant: dict[str, CostTotals]
    by_cache_layer: dict[str, CostTotals]
    window_s: int
    window_spend_usd_micros: int
    estimated_monthly_usd_micros: int
    dropped_records: int
    journal_pending: int = 0
    partial: bool = False
    spend_by_bucket: list[tuple[int, int]] = msgspec.field(default_factory=list)
    """(bucket start in epoch seconds, spend) for each bucket of the window, oldest first."""


class CostTracker:
    """Records `CallRecord`s into a `CostStore` and reads them back as a `CostSnapshot`.

    ``clock`` is wall-clock seconds (replicas must agree on bucket boundaries). The monthly
    estimate is ``window_spend * 30 days // covered``, where ``covered`` runs from the start of
    the oldest bucket in the window, or from the first record if later, to now, and is at least
    one bucket (so a first minute does not extrapolate from a few seconds).

    `record` never raises for store trouble: with a ``journal`` the record is appended to it
    and replayed into the store, exactly once, by `replay_journal` once the store answers again;
    without one (or with the journal full) it is dropped and counted in ``dropped_records`` (a
    warning is logged once per outage). `snapshot` raises `StoreUnavailable`: a partial total
    would be a wrong number on a page about money; `local_snapshot` is the labelled fallback.
    """

    def __init__(
        self,
        store: CostStore | None = None,
        *,
        window_s: int = 3_600,
        bucket_s: int = 60,
        clock: Callable[[], float] = time.time,
        journal: CostJournal | None = None,
        max_names: int = DEFAULT_MAX_NAMES,
        history: CallSink | None = None,
    ) -> None:
        if bucket_s < 1 or window_s < bucket_s or window_s % bucket_s:
            raise ValueError("window_s must be a positive multiple of bucket_s (>= 1 s)")
        self._store: CostStore = store if store is not None else MemoryCostStore()
        self._window_s = window_s
        self._bucket_ms = bucket_s * 1000
        self._buckets = window_s // bucket_s
        self._clock = clock
        self._journal = journal
        self._history = history
        self.history_dropped = 0
        """Calls the history could not take (store down): their minutes read low."""
        # This process's own records, for `local_snapshot` when a shared store cannot answer.
        shared = store is not None and not isinstance(store, MemoryCostStore)
        self._local = MemoryCostStore(max_names=max_names) if shared else None
        self._lost = 0
        self.errors_by_op: Counter[str] = Counter()  # failed store writes by Redis operation
        self._failing = False
        self._wake: anyio.Event | None = None  # set when the store answers again

    @property
    def dropped_records(self) -> int:
        """Records this process lost for good (store down, journal absent or full)."""
        return self._lost + (self._journal.dropped if self._journal else 0)

    @property
    def journal_dropped(self) -> int:
        """Of `dropped_records`, those refused because the journal was full."""
        return self._journal.dropped if self._journal else 0

    @property
    def journal_pending(self) -> int:
        """Records waiting in the local journal for the store to answer again."""
        return self._journal.pending if self._journal else 0

    async def record(self, call: CallRecord) -> None:
        """Add one call to every aggregate. Shielded from cancellation (a client that hangs up
        must still be billed); bounded by the store's own timeout; never raises for the store."""
        now = self._clock()
        usage = call.usage
        cached = call.cache_saved_usd_micros
        counters = {
            "calls": 1,
            "unpriced_calls": 0 if call.cost_known else 1,
            "estimated_usage_calls": 1 if usage.estimated else 0,
            "fallbacks": 1 if call.used_fallback else 0,
            "prompt_tokens": usage.prompt,
            "cached_prompt_tokens": usage.cached_prompt,
            "cache_write_tokens": usage.cache_write,
            "completion_tokens": usage.completion,
            "cost_usd_micros": call.cost_usd_micros,
            "cache_saved_usd_micros": call.cache_saved_usd_micros,
            "routing_saved_usd_micros": call.routing_saved_usd_micros,
            "exact_saved_usd_micros": cached if call.cache_layer == "exact" else 0,
            "semantic_saved_usd_micros": cached if call.cache_layer == "semantic" else 0,
            "batch_saved_usd_micros": call.batch_saved_usd_micros,
        }
        names = {
            "all": "all",
            "model": call.model,
            "tier": call.tier,
            "tenant": call.tenant,
            "layer": call.cache_layer or NO_CACHE,
        }
        entry = JournalEntry(
            id=uuid.uuid4().hex,
            names=names,
            counters=counters,
            bucket=self._bucket_of(now),
            spend_usd_micros=call.cost_usd_micros,
            bucket_ttl_s=self._window_s + 2 * self._bucket_ms / 1000,
            now=now,
        )
        with anyio.CancelScope(shield=True):
            if self._local is not None:
                await _add(self._local, entry)
            try:
                await _add(self._store, entry)
            except StoreUnavailable as exc:
                await self._keep(entry, exc)
                self.history_dropped += self._history is not None  # the same store: down too
                return
            await self._add_history(call, now)
        if self._failing:
            self._failing = False
            _log.info("cost store available again (%d records lost so far)", self.dropped_records)
        if self.journal_pending and self._wake is not None:
            self._wake.set()

    async def _add_history(self, call: CallRecord, now: float) -> None:
        if self._history is None:
            return
        try:
            await self._history.add(call, now)
        except StoreUnavailable as exc:
            # Charts are not money: a lost minute is counted, not journaled.
            if not self.history_dropped:
                _log.warning("dashboard history unavailable, dropping points: %s", exc)
            self.history_dropped += 1

    async def keep_replaying(self, interval_s: float) -> None:
        """Replay the journal whenever a record reaches the store again, and at least every
        ``interval_s`` seconds while records wait; runs until cancelled."""
        while True:
            self._wake = anyio.Event()
            with anyio.move_on_after(interval_s):
                await self._wake.wait()
            if self.journal_pending:
                # Still down: the records stay journaled and the next round retries.
                with contextlib.suppress(StoreUnavailable):
                    await self.replay_journal()

    async def replay_journal(self) -> int:
        """Add the journaled records to the store (each exactly once) and empty the journal;
        returns how many were replayed. Raises `StoreUnavailable` (the journal is kept)."""
        if self._journal is None:
            return 0
        # Not shielded: an interrupted replay keeps the journal and the retry skips what landed.
        replayed = await self._journal.replay(lambda entry: _add(self._store, entry))
        if replayed:
            _log.info("cost journal: %d records replayed into the cost store", replayed)
        return replayed

    async def _keep(self, entry: JournalEntry, exc: StoreUnavailable) -> None:
        self.errors_by_op[exc.op] += 1
        if not self._failing:
            self._failing = True
            where = "journaling" if self._journal else "dropping"
            _log.warning("cost store unavailable, %s cost records: %s", where, exc)
        if self._journal is None:
            self._lost += 1
            return
        try:
            await self._journal.append(entry)
        except OSError as disk:
            self._lost += 1
            _log.error("cost journal cannot be written, cost record lost: %s", disk)

    async def snapshot(self) -> CostSnapshot:
        """All aggregates and the monthly estimate. Raises `StoreUnavailable`."""
        return await self._snapshot(self._store, partial=False)

    async def local_snapshot(self) -> CostSnapshot:
        """What this process recorded itself, flagged ``partial`` (for when the shared store
        cannot answer). Never raises."""
        return await self._snapshot(self._local or self._store, partial=True)

    async def _snapshot(self, store: CostStore, *, partial: bool) -> CostSnapshot:
        now = self._clock()
        current = self._bucket_of(now)
        first = current - self._buckets + 1
        stored = await store.read(range(first, current + 1))
        window_spend = sum(stored.spend.values())
        rows = stored.counters

        def by(dimension: str) -> dict[str, CostTotals]:
            return {
                name: CostTotals.from_counters(counters)
                for name, counters in sorted(rows.get(dimension, {}).items())
            }

        return CostSnapshot(
            totals=CostTotals.from_counters(rows.get("all", {}).get("all", {})),
            by_model=by("model"),
            by_tier=by("tier"),
            by_tenant=by("tenant"),
            by_cache_layer=by("layer"),
            window_s=self._window_s,
            window_spend_usd_micros=window_spend,
            estimated_monthly_usd_micros=self._monthly(
                window_spend, now, first * self._bucket_ms, stored.since
            ),
            dropped_records=self.dropped_records,
            journal_pending=self.journal_pending,
            partial=partial,
            spend_by_bucket=[
                (bucket * self._bucket_ms // 1000, stored.spend.get(bucket, 0))
                for bucket in range(first, current + 1)
            ],
        )

    def _bucket_of(self, now: float) -> int:
        return math.floor(now * 1000) // self._bucket_ms

    def _monthly(self, spend: int, now: float, window_start_ms: int, since: float | None) -> int:
        if not spend or since is None:
            return 0
        start_ms = max(window_start_ms, math.floor(since * 1000))
        covered_ms = max(math.floor(now * 1000) - start_ms, self._bucket_ms)
        return spend * MONTH_S * 1000 // covered_ms


async def _add(store: CostStore, entry: JournalEntry) -> None:
    await store.add(
        entry.names,
        entry.counters,
        bucket=entry.bucket,
        spend_usd_micros=entry.spend_usd_micros,
        bucket_ttl_s=entry.bucket_ttl_s,
        now=entry.now,
        record_id=entry.id,
    )
