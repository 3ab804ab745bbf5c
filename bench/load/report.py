"""The load report: pure functions from per-request `LoadRecord`s to a `LoadReport`.

Percentiles are nearest-rank (the smallest value with at least q% of the samples at or below
it), so a small run's figures can be checked by hand. Money is integer micro-USD.

"Saved" is `metrics.savings`' one definition, the same sum ``/stats`` and the dashboard show:
each answer's ``saved_usd_micros`` under the mechanism that saved it (exact cache, semantic
cache, routing; the batch share under batch), so the report and ``/stats`` agree for the same
traffic (`check_stats` checks it).

Apart from it, a larger what-if: "the same answered requests, all sent to the strong model,
no gateway cache" (it also counts the routing a cache hit's original answer went through):

- a miss is re-priced from its own tokens at the strong model's price (``miss_repriced``);
- a cache hit reports no tokens, only ``saved_usd_micros`` (the original answer's cost) and
  the model that produced it. When that model has the strong model's price, the saving *is*
  the baseline (``hit_same_price``). Otherwise the tokens of a miss of this run with the same
  message (or, failing that, the same paraphrase group) are re-priced (``hit_repriced_tokens``);
  failing that, the saving is scaled by strong/original price over this run's token mix for
  that model (``hit_scaled``, an approximation); a model without a price keeps its saving
  as is (``unpriced``). The report counts requests per method.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from pathlib import Path
from typing import Literal

import msgspec

from agent.types import Usage
from bench.load.batch_share import BatchShare
from metrics.pricing import PriceTable, cost_of
from metrics.savings import SavedSplit, split_saving

Mode = Literal["closed", "open"]


class LoadRecord(msgspec.Struct, frozen=True, kw_only=True):
    """What one request of the run did.

    Times are seconds from the run's start: ``scheduled_s`` when it was due (open loop) or
    picked up (closed loop), ``sent_s`` when it went out, ``finished_s`` when it ended.
    ``latency_ms``/``ttft_ms`` count from ``scheduled_s`` in open loop (queueing shows), from
    ``sent_s`` in closed loop and for a session turn that waited for the previous answer.
    ``session`` is the session key as sent (a cycle suffix keeps repeated passes over the
    workload apart). ``error_code`` is None on success; ``fault`` is
    `metrics.request_record.fault_of` of a gateway code, or ``client`` for failures seen only
    by the load generator (``client_timeout``, ``connection_error``). ``used_fallback`` is None
    when the endpoint does not say (``/v1/chat/completions``).
    """

    index: int
    item_id: str
    message: str
    kind: str | None = None
    group: str | None = None
    session: str | None = None
    user_id: str | None = None
    expect_cache: str | None = None
    scheduled_s: float = 0.0
    sent_s: float = 0.0
    finished_s: float = 0.0
    status: int = 0
    error_code: str | None = None
    fault: str | None = None
    latency_ms: float = 0.0
    ttft_ms: float | None = None
    cache: str | None = None
    tier: str | None = None
    model: str | None = None
    used_fallback: bool | None = None
    cost_usd_micros: int = 0
    cost_known: bool = True
    saved_usd_micros: int = 0
    usage: Usage = Usage()

    @property
    def ok(self) -> bool:
        return self.error_code is None


class RunInfo(msgspec.Struct, frozen=True, kw_only=True):
    """How the run was set up and how it ended (``stopped_by``: ``requests``, ``duration``
    or ``max_time``, the hard overall timeout)."""

    base_url: str
    endpoint: str
    mode: Mode
    concurrency: int | None
    rate: float | None
    planned_requests: int | None
    duration_s: float | None
    workload: str
    started_at: float
    wall_s: float
    stopped_by: str
    strong_model: str
    strong_model_source: str


class LatencySummary(msgspec.Struct, frozen=True):
    count: int = 0
    p50: float = 0.0
    p90: float = 0.0
    p99: float = 0.0
    max: float = 0.0


class CacheSummary(msgspec.Struct, frozen=True):
    """Answered requests by source; rates are shares of answered requests."""

    exact: int = 0
    semantic: int = 0
    miss: int = 0
    exact_rate: float = 0.0
    semantic_rate: float = 0.0
    hit_rate: float = 0.0


class MoneySummary(msgspec.Struct, frozen=True):
    """Cost as served, what it saved (`metrics.savings`, by mechanism), and the what-if of
    every request on the strong model without a cache (None: strong model unpriced) with how
    far below it the served cost is."""

    served_usd_micros: int
    saved: SavedSplit
    strong_no_cache_usd_micros: int | None
    below_strong_no_cache_percent: float | None
    baseline_model: str
    baseline_methods: dict[str, int]
    note: str


def saved_by_mechanism(answered: Iterable[LoadRecord]) -> SavedSplit:
    """What the answers saved, by mechanism, as ``/stats`` adds it up."""
    return sum((split_saving(r.cache, r.saved_usd_micros) for r in answered), SavedSplit())


class StatsFigures(msgspec.Struct, frozen=True):
    calls: int
    cost_usd_micros: int
    saved: SavedSplit = SavedSplit()


class StatsCheck(msgspec.Struct, frozen=True):
    """``GET /stats`` after minus before (``observed``) vs what the responses said."""

    ok: bool
    expected: StatsFigures
    observed: StatsFigures
    fallbacks: int | None = None
    note: str = ""


class TimelinePoint(msgspec.Struct, frozen=True):
    """Requests that finished during second ``second`` of the run."""

    second: int
    ok: int
    errors: int


class LoadReport(msgspec.Struct, frozen=True, kw_only=True):
    """Everything the terminal table, the JSON file and the HTML page show."""

    run: RunInfo
    requests: int
    answered: int
    errors: int
    error_rate: float
    errors_by_code: dict[str, int]
    errors_by_fault: dict[str, int]
    throughput_rps: float
    latency_ms: LatencySummary
    ttft_ms: LatencySummary | None
    cache: CacheSummary
    routes: dict[str, int]
    route_by_kind: dict[str, dict[str, int]]
    fallbacks: int | None
    tokens: Usage
    money: MoneySummary
    cache_expectations: dict[str, dict[str, int]]
    realtime_cache_hits: int
    timeline: list[TimelinePoint]
    stats_check: StatsCheck | None
    records: list[LoadRecord]
    batch: BatchShare | None = None
    """The share sent through the batch lane (``--batch-share``), or None."""


def percentile(values: list[float], q: int) -> float:
    """Nearest-rank ``q``-th percentile of ``values`` (0.0 when empty)."""
    if not values:
        return 0.0
    ordered = sorted(values)
    rank = -(-q * len(ordered) // 100)  # ceil without floats
    return ordered[max(rank, 1) - 1]


def summarize(values: list[float]) -> LatencySummary:
    """Count, p50/p90/p99 and max of ``values`` in milliseconds."""
    if not values:
        return LatencySummary()
    return LatencySummary(
        count=len(values),
        p50=percentile(values, 50),
        p90=percentile(values, 90),
        p99=percentile(values, 99),
        max=max(values),
    )


def cache_summary(answered: list[LoadRecord]) -> CacheSummary:
    """Exact/semantic hits and misses among ``answered`` requests."""
    exact = sum(r.cache == "exact" for r in answered)
    semantic = sum(r.cache == "semantic" for r in answered)
    n = len(answered)
    return CacheSummary(
        exact=exact,
        semantic=semantic,
        miss=n - exact - semantic,
        exact_rate=round(exact / n, 4) if n else 0.0,
        semantic_rate=round(semantic / n, 4) if n else 0.0,
        hit_rate=round((exact + semantic) / n, 4) if n else 0.0,
    )


def baseline_money(
    answered: list[LoadRecord], strong_model: str, prices: PriceTable | None = None
) -> MoneySummary:
    """Served cost, its savings, and the strong-model, no-cache what-if (see the module
    docstring)."""
    table = prices or PriceTable()
    served = sum(r.cost_usd_micros for r in answered)
    saved_split = saved_by_mechanism(answered)
    strong = table.price_for(strong_model)
    note = (
        "saved: each answer's saving under the mechanism that made it, as /stats counts it; "
        f"what-if: every answered request sent to {strong_model} with no gateway cache, "
        "misses re-priced from their tokens, hits from the original answer "
        "(see baseline_methods)"
    )
    if strong is None:
        note = f"no price known for {strong_model}: no what-if"
        return MoneySummary(served, saved_split, None, None, strong_model, {}, note)
    misses = [r for r in answered if r.cache is None]
    by_message: dict[tuple[str, str | None], Usage] = {}
    by_group: dict[str, Usage] = {}
    mix: dict[str, Usage] = {}
    for r in misses:
        if r.model is not None:
            mix[r.model] = mix.get(r.model, Usage()) + r.usage
        if r.session is None and r.usage.total:
            by_message.setdefault((r.message, r.user_id), r.usage)
            if r.group is not None:
                by_group.setdefault(r.group, r.usage)
    all_mix = sum((r.usage for r in misses), Usage())
    methods: Counter[str] = Counter()
    baseline = 0
    for r in answered:
        if r.cache is None:
            methods["miss_repriced"] += 1
            baseline += cost_of(strong, r.usage)
            continue
        original = table.price_for(r.model) if r.model else None
        tokens = by_message.get((r.message, r.user_id))
        if tokens is None and r.group is not None:
            tokens = by_group.get(r.group)
        if original == strong:
            methods["hit_same_price"] += 1
            baseline += r.saved_usd_micros
        elif tokens is not None:
            methods["hit_repriced_tokens"] += 1
            baseline += cost_of(strong, tokens)
        elif original is None:
            methods["unpriced"] += 1
            baseline += r.saved_usd_micros
        else:
            methods["hit_scaled"] += 1
            sample = mix.get(r.model or "") or all_mix
            if sample.total:
                num, den = cost_of(strong, sample), cost_of(original, sample)
            else:
                num, den = strong.output, original.output
            baseline += -(-r.saved_usd_micros * num // den) if den else r.saved_usd_micros
    percent = round(100 * (baseline - served) / baseline, 2) if baseline else 0.0
    return MoneySummary(served, saved_split, baseline, percent, strong_model, dict(methods), note)


def check_stats(
    answered: list[LoadRecord], before: StatsFigures, after: StatsFigures, **extra: int | None
) -> StatsCheck:
    """Compare the ``/stats`` delta with the answered count, the sum of their costs and their
    savings by mechanism."""
    expected = StatsFigures(
        len(answered), sum(r.cost_usd_micros for r in answered), saved_by_mechanism(answered)
    )
    observed = StatsFigures(
        after.calls - before.calls,
        after.cost_usd_micros - before.cost_usd_micros,
        after.saved - before.saved,
    )
    note = (
        ""
        if expected == observed
        else (
            "/stats moved differently from the responses: other traffic on the gateway, "
            "streams billed for a partial answer before failing, or an accounting bug"
        )
    )
    return StatsCheck(expected == observed, expected, observed, extra.get("fallbacks"), note)


def build_report(
    records: list[LoadRecord],
    run: RunInfo,
    *,
    prices: PriceTable | None = None,
    stats_check: StatsCheck | None = None,
) -> LoadReport:
    """Aggregate ``records`` of one run into a `LoadReport`."""
    ordered = sorted(records, key=lambda r: r.index)
    answered = [r for r in ordered if r.ok]
    failed = [r for r in ordered if not r.ok]
    ttfts = [r.ttft_ms for r in answered if r.ttft_ms is not None]
    known_fallbacks = [r.used_fallback for r in answered if r.used_fallback is not None]
    fallbacks = sum(known_fallbacks) if known_fallbacks else None
    if fallbacks is None and stats_check is not None:
        fallbacks = stats_check.fallbacks
    return LoadReport(
        run=run,
        requests=len(ordered),
        answered=len(answered),
        errors=len(failed),
        error_rate=round(len(failed) / len(ordered), 4) if ordered else 0.0,
        errors_by_code=dict(Counter(r.error_code or "" for r in failed).most_common()),
        errors_by_fault=dict(Counter(r.fault or "unknown" for r in failed).most_common()),
        throughput_rps=round(len(answered) / run.wall_s, 2) if run.wall_s > 0 else 0.0,
        latency_ms=summarize([r.latency_ms for r in answered]),
        ttft_ms=summarize(ttfts) if ttfts else None,
        cache=cache_summary(answered),
        routes=dict(Counter(r.tier or "none" for r in answered).most_common()),
        route_by_kind=_crosstab((r.kind or "-", r.tier or "none") for r in answered),
        fallbacks=fallbacks,
        tokens=sum((r.usage for r in answered), Usage()),
        money=baseline_money(answered, run.strong_model, prices),
        cache_expectations=_crosstab(
            (r.expect_cache, r.cache or "miss") for r in answered if r.expect_cache
        ),
        realtime_cache_hits=sum(r.kind == "realtime" and r.cache is not None for r in answered),
        timeline=_timeline(ordered, run.wall_s),
        stats_check=stats_check,
        records=ordered,
    )


def _crosstab(pairs: Iterable[tuple[object, object]]) -> dict[str, dict[str, int]]:
    table: dict[str, Counter[str]] = {}
    for row, column in pairs:
        table.setdefault(str(row), Counter())[str(column)] += 1
    return {row: dict(sorted(counts.items())) for row, counts in sorted(table.items())}


def _timeline(records: list[LoadRecord], wall_s: float) -> list[TimelinePoint]:
    seconds = max(int(wall_s) + 1, 1)
    ok, errors = [0] * seconds, [0] * seconds
    for r in records:
        slot = min(max(int(r.finished_s), 0), seconds - 1)
        (ok if r.ok else errors)[slot] += 1
    return [TimelinePoint(s, ok[s], errors[s]) for s in range(seconds)]


def with_batch_share(report: LoadReport, share: BatchShare) -> LoadReport:
    """``report`` with the batch share's figures, its saving under ``batch``."""
    extra = split_saving(None, share.saved_usd_micros, batch=True)
    money = msgspec.structs.replace(report.money, saved=report.money.saved + extra)
    return msgspec.structs.replace(report, batch=share, money=money)


def write_json(report: LoadReport, path: Path) -> None:
    """Write ``report`` as indented JSON (parent directories created)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(msgspec.json.format(msgspec.json.encode(report), indent=2) + b"\n")
