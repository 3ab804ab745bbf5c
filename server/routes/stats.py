"""``GET /stats`` (the JSON summary behind the dashboard) and ``GET /metrics`` (Prometheus).

Money comes from the shared `CostTracker` and the budget ledger, so with Redis every replica
reports the same totals; latency percentiles and error counts are this replica's. When Redis
cannot answer, ``/stats`` still answers from this replica's own records, flagged
``"partial": true`` (budget windows are then left out).

With auth on both need the admin key; ``/stats`` also takes a tenant read key
(``[auth].read_keys``), which sees only that tenant: its row of ``by_tenant``, its totals in
place of the fleet's, its budget windows, and none of the fleet-wide breakdowns.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

import msgspec
from starlette.requests import Request
from starlette.responses import Response

from agent.agents.experiments import VariantStats
from cache.errors import CacheError, StoreUnavailable
from metrics.batch_metrics import render_batch_metrics
from metrics.budget import WindowUsage
from metrics.cost_tracker import CostSnapshot, CostTotals
from metrics.guard_counts import GuardStats
from metrics.latency_window import LatencyWindow
from metrics.variant_metrics import render_variant_metrics
from server.degradation import degradation_snapshot
from server.drain import Drain
from server.errors import APIError
from server.state import app_state
from server.stats_wire import (
    BatchLaneStats,
    BudgetUse,
    CacheStats,
    Percentiles,
    SpendPoint,
    Stats,
    TokenStats,
    section_scopes,
)

if TYPE_CHECKING:
    from server.state import AppState

FAULTS = ("caller", "policy", "provider", "frugal")
_encoder = msgspec.json.Encoder()


async def get_stats(request: Request) -> Response:
    """The `Stats` of this deployment (``partial`` when Redis cannot answer)."""
    state: AppState = app_state(request)
    tenant = requested_tenant(request, state)
    stats = await build_stats(state)
    if tenant is not None:
        stats = await _tenant_view(state, stats, tenant)
    return Response(
        _encoder.encode(stats),
        media_type="application/json",
        headers={"Cache-Control": "no-store"},
    )


def requested_tenant(request: Request, state: AppState) -> str | None:
    """The tenant a stats request is cut down to: a read key's own tenant, or the admin's
    (or, auth off, anyone's) ``?tenant=`` choice; None for every tenant. A read key asking
    for another tenant is refused (403 ``forbidden``)."""
    scope = state.components.cost.auth.stats_scope(request, allow_read_key=True)
    asked = request.query_params.get("tenant") or None
    if scope is not None and asked not in (None, scope):
        raise APIError("forbidden", "a tenant read key sees its own tenant only")
    return scope or asked


async def get_metrics(request: Request) -> Response:
    """Prometheus text exposition; budget gauges are refreshed from the ledger first."""
    state: AppState = app_state(request)
    cost = state.components.cost
    cost.auth.stats_scope(request, allow_read_key=False)
    try:
        for use in await _budget_windows(state, tenants=()):
            fraction = use.spent_usd_micros / use.cap_usd_micros if use.cap_usd_micros else 1.0
            cost.metrics.set_budget_use(_scope(use), use.period, fraction)
    except StoreUnavailable:
        pass  # the gauges keep their last values; the counters below are still worth serving
    cost.metrics.degradation.refresh(degradation_snapshot(state.components))
    body, content_type = cost.metrics.render()
    lane = await _batch_stats(state)
    if lane is not None:
        body += render_batch_metrics(msgspec.structs.asdict(lane))
    drain = request.app.state.drain
    if isinstance(drain, Drain):
        body += drain.render_metrics()
    body += render_variant_metrics(await _variants(state, []))
    return Response(body, headers={"Content-Type": content_type, "Cache-Control": "no-store"})


async def build_stats(state: AppState) -> Stats:
    """Read every aggregate once and shape it as `Stats`; from this replica's own records,
    flagged ``partial``, when the store cannot answer."""
    accounting = state.components.cost.accounting
    tracker = accounting.tracker
    missing: list[str] = []  # the parts Redis could not give: see `Stats.partial_parts`
    try:
        snapshot = await tracker.snapshot()
        windows = await _budget_windows(state, tenants=tuple(snapshot.by_tenant))
    except StoreUnavailable:
        snapshot, windows = await tracker.local_snapshot(), []
        missing += ["totals", "budget"] if state.components.cost.budget else ["totals"]
    variants = await _variants(state, missing)
    batch = await _batch_stats(state, missing)
    totals = snapshot.totals
    return Stats(
        simulated=state.settings.uses_simulated_provider,
        generated_at=round(time.time(), 3),
        calls=totals.calls,
        tokens=TokenStats(
            input=totals.prompt_tokens,
            cached_input=totals.cached_prompt_tokens,
            cache_write=totals.cache_write_tokens,
            output=totals.completion_tokens,
        ),
        cost_usd_micros=totals.cost_usd_micros,
        avg_cost_usd_micros=totals.avg_cost_usd_micros,
        estimated_monthly_usd_micros=snapshot.estimated_monthly_usd_micros,
        window_s=snapshot.window_s,
        window_spend_usd_micros=snapshot.window_spend_usd_micros,
        saved_usd_micros=totals.saved_usd_micros,
        cache_saved_usd_micros=totals.cache_saved_usd_micros,
        routing_saved_usd_micros=totals.routing_saved_usd_micros,
        saved=totals.split(),
        history_dropped=tracker.history_dropped,
        unpriced_calls=totals.unpriced_calls,
        estimated_usage_calls=totals.estimated_usage_calls,
        fallbacks=totals.fallbacks,
        cache=_cache_stats(snapshot),
        routes={tier: row.calls for tier, row in snapshot.by_tier.items()},
        by_model=snapshot.by_model,
        by_tier=snapshot.by_tier,
        by_tenant=snapshot.by_tenant,
        by_cache_layer=snapshot.by_cache_layer,
        spend_series=[SpendPoint(t, micros) for t, micros in snapshot.spend_by_bucket],
        latency_ms=_percentiles(accounting.latency),
        ttft_ms=_percentiles(accounting.ttft),
        overhead_ms=_percentiles(accounting.overhead),
        errors={fault: accounting.errors.get(fault, 0) for fault in FAULTS},
        budget=[_budget_use(use) for use in windows],
        budget_enabled=state.components.cost.budget is not None,
        dropped_cost_records=snapshot.dropped_records,
        journal_pending=snapshot.journal_pending,
        journal_dropped=tracker.journal_dropped,
        partial=snapshot.partial or bool(missing),
        partial_parts=missing,
        variants=variants,
        security=_guard_stats(state),
        batch=batch,
        scope=section_scopes(partial=snapshot.partial),
    )


async def _variants(state: AppState, missing: list[str]) -> list[VariantStats]:
    try:
        return await state.components.experiments.summary()
    except CacheError:
        missing.append("variants")
        return []


async def _batch_stats(state: AppState, missing: list[str] | None = None) -> BatchLaneStats | None:
    if state.batch is None:
        return None
    try:
        lane = await state.batch.stats()
    except CacheError:
        if missing is not None:
            missing.append("batch")
        return None
    return BatchLaneStats(**msgspec.structs.asdict(lane), saved_usd_micros=lane.saved_usd_micros)


async def _tenant_view(state: AppState, stats: Stats, tenant: str) -> Stats:
    """``stats`` cut down to what ``tenant``'s read key may see."""
    mine = stats.by_tenant.get(tenant, CostTotals())
    try:
        windows = [] if stats.partial else await _budget_windows(state, tenants=(tenant,))
    except StoreUnavailable:
        windows = []
    return msgspec.structs.replace(
        stats,
        tenant=tenant,
        saved=mine.split(),
        calls=mine.calls,
        tokens=TokenStats(
            input=mine.prompt_tokens,
            cached_input=mine.cached_prompt_tokens,
            cache_write=mine.cache_write_tokens,
            output=mine.completion_tokens,
        ),
        cost_usd_micros=mine.cost_usd_micros,
        avg_cost_usd_micros=mine.avg_cost_usd_micros,
        estimated_monthly_usd_micros=0,  # tracked for the fleet only
        variants=[],
        window_spend_usd_micros=0,
        saved_usd_micros=mine.saved_usd_micros,
        cache_saved_usd_micros=mine.cache_saved_usd_micros,
        routing_saved_usd_micros=mine.routing_saved_usd_micros,
        unpriced_calls=mine.unpriced_calls,
        estimated_usage_calls=mine.estimated_usage_calls,
        fallbacks=mine.fallbacks,
        cache=CacheStats(),
        routes={},
        by_model={},
        by_tier={},
        by_tenant={tenant: mine} if tenant in stats.by_tenant else {},
        by_cache_layer={},
        batch=None,  # the lane's totals are the fleet's
        spend_series=[],
        latency_ms=Percentiles(),
        ttft_ms=Percentiles(),
        overhead_ms=Percentiles(),
        errors=dict.fromkeys(FAULTS, 0),
        budget=[_budget_use(use) for use in windows if use.tenant == tenant],
        dropped_cost_records=0,
        journal_pending=0,
        journal_dropped=0,
        security=GuardStats(enabled=stats.security.enabled),
    )


def _guard_stats(state: AppState) -> GuardStats:
    counts = state.components.guard_counts
    return GuardStats() if counts is None else counts.snapshot()


def _cache_stats(snapshot: CostSnapshot) -> CacheStats:
    layers = snapshot.by_cache_layer
    empty = CostTotals()
    exact = layers.get("exact", empty).calls
    semantic = layers.get("semantic", empty).calls
    calls = snapshot.totals.calls
    return CacheStats(
        exact_hits=exact,
        semantic_hits=semantic,
        misses=calls - exact - semantic,
        exact_hit_rate=round(exact / calls, 4) if calls else 0.0,
        semantic_hit_rate=round(semantic / calls, 4) if calls else 0.0,
        hit_rate=round((exact + semantic) / calls, 4) if calls else 0.0,
    )


def _percentiles(window: LatencyWindow) -> Percentiles:
    p50, p95, p99 = window.percentiles(50, 95, 99)
    return Percentiles(count=window.count, p50=p50, p95=p95, p99=p99, max=window.maximum())


async def _budget_windows(state: AppState, *, tenants: tuple[str, ...]) -> list[WindowUsage]:
    budget = state.components.cost.budget
    return [] if budget is None else await budget.usage(tenants=tenants)


def _scope(use: WindowUsage) -> str:
    return "global" if use.tenant is None else f"tenant:{use.tenant}"


def _budget_use(use: WindowUsage) -> BudgetUse:
    return BudgetUse(
        scope=_scope(use),
        period=use.period,
        spent_usd_micros=use.spent_usd_micros,
        reserved_usd_micros=use.reserved_usd_micros,
        cap_usd_micros=use.cap_usd_micros,
        used_percent=round(use.percent, 2),
        resets_at=use.resets_at,
    )
