"""The JSON shape of ``GET /stats`` (read by the dashboard, the load script and operators).

Money is integer micro-USD. ``totals``/``by_*`` come from the shared `CostTracker` (every
replica adds into one total when Redis is configured); ``latency_ms``, ``ttft_ms``,
``overhead_ms`` and ``errors`` describe this replica only (its recent requests). ``scope``
says which is which in the JSON itself.
"""

from __future__ import annotations

import msgspec

from agent.agents.experiments import VariantStats
from metrics.cost_tracker import CostTotals
from metrics.guard_counts import GuardStats
from metrics.savings import BASELINES, SavedSplit


class Percentiles(msgspec.Struct, frozen=True):
    """Percentiles in milliseconds over the last ``count`` samples (0 when there are none)."""

    count: int = 0
    p50: float = 0.0
    p95: float = 0.0
    p99: float = 0.0
    max: float = 0.0


class CacheStats(msgspec.Struct, frozen=True):
    """Answers by source; rates are shares of all answered calls (0.0 without calls)."""

    exact_hits: int = 0
    semantic_hits: int = 0
    misses: int = 0
    exact_hit_rate: float = 0.0
    semantic_hit_rate: float = 0.0
    hit_rate: float = 0.0


class TokenStats(msgspec.Struct, frozen=True):
    """Tokens of all calls; ``input`` includes ``cached_input`` and ``cache_write``."""

    input: int = 0
    cached_input: int = 0
    cache_write: int = 0
    output: int = 0


class BudgetUse(msgspec.Struct, frozen=True):
    """One capped budget window: ``scope`` is ``global`` or ``tenant:<name>``, ``period``
    ``hour`` or ``day``; ``resets_at`` is epoch seconds."""

    scope: str
    period: str
    spent_usd_micros: int
    reserved_usd_micros: int
    cap_usd_micros: int
    used_percent: float
    resets_at: float


class SpendPoint(msgspec.Struct, frozen=True):
    """Spend in the bucket starting at epoch second ``t``."""

    t: int
    usd_micros: int


class BatchLaneStats(msgspec.Struct, frozen=True):
    """The batch lane: lines by outcome and source, what they cost, and what the same lines
    would have cost sent interactively (``saved_usd_micros`` is the difference)."""

    requests: int
    completed: int
    failed: int
    cache_hits: int
    provider_batched: int
    deferred: int
    cost_usd_micros: int
    interactive_usd_micros: int
    saved_usd_micros: int
    deferred_retries: int = 0
    deferred_rate_waits: int = 0
    deferred_budget_waits: int = 0


FLEET = "fleet"
"""Shared by every replica on the same Redis (one total, whichever replica answers)."""
REPLICA = "replica"
"""This replica's own (its recent requests or what happened in this process)."""
_PER_REPLICA = frozenset(
    {
        "latency_ms",
        "ttft_ms",
        "overhead_ms",
        "errors",
        "security",
        "dropped_cost_records",
        "journal_pending",
        "journal_dropped",
        "history_dropped",
    }
)
UNSCOPED = frozenset(
    {
        "simulated",
        "generated_at",
        "window_s",
        "budget_enabled",
        "partial",
        "partial_parts",
        "scope",
        "tenant",
        "saved_baselines",
    }
)
"""Fields of `Stats` that describe the answer itself rather than a figure."""
_SHARED = (
    "calls",
    "tokens",
    "cost_usd_micros",
    "avg_cost_usd_micros",
    "estimated_monthly_usd_micros",
    "window_spend_usd_micros",
    "saved_usd_micros",
    "cache_saved_usd_micros",
    "routing_saved_usd_micros",
    "saved",
    "unpriced_calls",
    "estimated_usage_calls",
    "fallbacks",
    "cache",
    "routes",
    "by_model",
    "by_tier",
    "by_tenant",
    "by_cache_layer",
    "spend_series",
    "budget",
    "variants",
    "batch",
)


def section_scopes(*, partial: bool) -> dict[str, str]:
    """``/stats``' ``scope``: for each section, ``fleet`` or ``replica``. Money, counts and
    budgets are the fleet's, except when ``partial`` (Redis did not answer: this replica's own
    records); latency, errors and the guard's counts are always this replica's."""
    shared = REPLICA if partial else FLEET
    scopes = dict.fromkeys(_SHARED, shared)
    scopes.update(dict.fromkeys(sorted(_PER_REPLICA), REPLICA))
    return scopes


class Stats(msgspec.Struct, frozen=True):
    """Everything ``/stats`` reports."""

    simulated: bool
    generated_at: float
    calls: int
    tokens: TokenStats
    cost_usd_micros: int
    avg_cost_usd_micros: int
    estimated_monthly_usd_micros: int
    window_s: int
    window_spend_usd_micros: int
    saved_usd_micros: int
    cache_saved_usd_micros: int
    routing_saved_usd_micros: int
    unpriced_calls: int
    estimated_usage_calls: int
    fallbacks: int
    cache: CacheStats
    routes: dict[str, int]
    by_model: dict[str, CostTotals]
    by_tier: dict[str, CostTotals]
    by_tenant: dict[str, CostTotals]
    by_cache_layer: dict[str, CostTotals]
    spend_series: list[SpendPoint]
    latency_ms: Percentiles
    ttft_ms: Percentiles
    overhead_ms: Percentiles
    errors: dict[str, int]
    budget: list[BudgetUse]
    budget_enabled: bool
    dropped_cost_records: int
    journal_pending: int = 0
    journal_dropped: int = 0
    partial: bool = False
    partial_parts: list[str] = msgspec.field(default_factory=list)
    """What ``partial`` covers: ``totals`` (money, calls and breakdowns are this replica's
    own records), ``budget`` (windows left out), ``variants``, ``batch`` (left out)."""
    variants: list[VariantStats] = msgspec.field(default_factory=list)
    """A/B variants of configured agents (fleet-wide; not in a tenant's view)."""
    security: GuardStats = msgspec.field(default_factory=GuardStats)
    batch: BatchLaneStats | None = None
    """The batch lane's totals (None when the lane is disabled or its store cannot answer)."""
    scope: dict[str, str] = msgspec.field(default_factory=dict)
    """Per section, ``fleet`` (every replica on the same Redis) or ``replica`` (this one);
    see `section_scopes`."""
    saved: SavedSplit = msgspec.field(default_factory=SavedSplit)
    """``saved_usd_micros`` by mechanism (`metrics.savings`); ``saved.total`` equals it."""
    saved_baselines: dict[str, str] = msgspec.field(default_factory=lambda: dict(BASELINES))
    """What each mechanism's saving is measured against, one sentence each."""
    tenant: str | None = None
    """The one tenant these figures are cut down to (None: every tenant)."""
    history_dropped: int = 0
    """Calls this replica could not add to the dashboard history (store unavailable)."""
