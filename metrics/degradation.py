"""`DegradationMetrics`: what a degraded gateway looks like on ``/metrics``.

Circuit breakers, the semantic cache's replication, the cost journal, Redis errors, fail-open
decisions, webhook failures and dropped events. Most of it is state the components already
keep (breaker states, ``errors_total``-style tallies, the journal's backlog): it is read once
per scrape into a `DegradationSnapshot` (`refresh`) instead of being counted on the hot path;
tallies become Prometheus counters by adding what grew since the previous scrape. Every label
comes from a fixed list (components, Redis operation names, breaker states, fallback reasons)
or from the registry's providers: all bounded.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from prometheus_client import CollectorRegistry, Counter, Gauge

BREAKER_STATES = ("closed", "open", "half_open")


@dataclass(frozen=True, slots=True)
class DegradationSnapshot:
    """One reading of the components' degradation state (plain numbers, no components)."""

    breakers: Mapping[str, Mapping[str, int]] = field(default_factory=dict)
    """Per provider: how many of its models' breakers are in each state."""
    redis_errors: Mapping[tuple[str, str], int] = field(default_factory=dict)
    """Failed Redis operations so far by (component, operation)."""
    fail_open: Mapping[str, int] = field(default_factory=dict)
    """Requests admitted without the shared guard so far, by guard (budget, rate_limit)."""
    webhook_failures: Mapping[str, int] = field(default_factory=dict)
    """Webhook deliveries given up so far, by webhook (budget_alert; batch is counted live)."""
    dropped: Mapping[str, int] = field(default_factory=dict)
    """Events lost so far, by kind (cost_record, semantic_replication, budget_alert)."""
    journal_pending: int = 0
    embedder_helper_restarts: int = 0
    """Times the embedder's helper process was started again (it died or stopped answering)."""
    semantic_entries: int | None = None
    replication_lag_s: float | None = None


class DegradationMetrics:
    """The degradation collectors, registered in ``registry`` (None: the multiprocess files)."""

    def __init__(self, registry: CollectorRegistry | None) -> None:
        self._breakers = Gauge(
            "frugal_circuit_breakers",
            "Model circuit breakers per provider and state (closed, open, half_open): an open "
            "breaker sends that model's requests straight to its fallback chain.",
            ["provider", "state"],
            registry=registry,
            multiprocess_mode="livesum",
        )
        self._redis_errors = Counter(
            "frugal_redis_errors",
            "Failed or timed-out Redis operations by component (cache, rate_limit, budget, "
            "cost, replication) and operation.",
            ["component", "op"],
            registry=registry,
        )
        self._fail_open = Counter(
            "frugal_fail_open",
            "Requests admitted without the shared guard because Redis could not answer, by "
            "guard (budget: no hold; rate_limit: this replica's local limits or none).",
            ["guard"],
            registry=registry,
        )
        self._webhook_failures = Counter(
            "frugal_webhook_failures",
            "Webhook deliveries given up after their retries, by webhook (batch, budget_alert).",
            ["webhook"],
            registry=registry,
        )
        self._dropped = Counter(
            "frugal_dropped_events",
            "Events lost for good, by kind: cost_record (Redis down, journal absent or full), "
            "semantic_replication (a cache write other replicas never see), budget_alert.",
            ["kind"],
            registry=registry,
        )
        self._helper_restarts = Counter(
            "frugal_embedder_helper_restarts",
            "Times the embedder's helper process was started again after it died or stopped "
            "answering; meanwhile the semantic cache missed (and readiness failed).",
            registry=registry,
        )
        self._journal_pending = Gauge(
            "frugal_cost_journal_pending",
            "Cost records waiting in the local journal for Redis (replayed once it answers).",
            registry=registry,
            multiprocess_mode="livesum",
        )
        self._semantic_entries = Gauge(
            "frugal_semantic_cache_entries",
            "Entries in this replica's semantic cache index.",
            registry=registry,
            multiprocess_mode="max",
        )
        self._replication_lag = Gauge(
            "frugal_semantic_replication_lag_seconds",
            "Age of the last semantic-cache entry received from another replica when it was "
            "applied here (wall clocks of two replicas: sub-second values are clock skew).",
            registry=registry,
            multiprocess_mode="max",
        )
        self._seen: dict[tuple[str, ...], int] = {}

    def count_webhook_failure(self, webhook: str) -> None:
        """Count one delivery of ``webhook`` given up (for senders without a tally)."""
        self._webhook_failures.labels(webhook).inc()

    def refresh(self, snapshot: DegradationSnapshot) -> None:
        """Bring the collectors up to ``snapshot`` (call before rendering ``/metrics``)."""
        for provider, states in snapshot.breakers.items():
            for state in BREAKER_STATES:
                self._breakers.labels(provider, state).set(states.get(state, 0))
        for (component, op), total in snapshot.redis_errors.items():
            self._grow(self._redis_errors.labels(component, op), ("redis", component, op), total)
        for guard, total in snapshot.fail_open.items():
            self._grow(self._fail_open.labels(guard), ("fail_open", guard), total)
        for webhook, total in snapshot.webhook_failures.items():
            self._grow(self._webhook_failures.labels(webhook), ("webhook", webhook), total)
        for kind, total in snapshot.dropped.items():
            self._grow(self._dropped.labels(kind), ("dropped", kind), total)
        self._grow(self._helper_restarts, ("helper_restarts",), snapshot.embedder_helper_restarts)
        self._journal_pending.set(snapshot.journal_pending)
        if snapshot.semantic_entries is not None:
            self._semantic_entries.set(snapshot.semantic_entries)
        if snapshot.replication_lag_s is not None:
            self._replication_lag.set(snapshot.replication_lag_s)

    def _grow(self, counter: Counter, key: tuple[str, ...], total: int) -> None:
        # A tally only grows; a smaller one (its component was rebuilt) starts over.
        seen = self._seen.get(key, 0)
        if total > seen:
            counter.inc(total - seen)
        self._seen[key] = total
