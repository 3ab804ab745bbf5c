"""Reads the components' degradation state into a `DegradationSnapshot` for ``/metrics``:
breaker states per provider, Redis errors by component and operation, fail-open decisions,
webhook failures, dropped events, the cost journal's backlog, the embedder helper's restarts
and the semantic cache's size and replication lag. Plain reads of counters the components
keep: no Redis call."""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Mapping

from agent.breaker import ModelBreakers
from agent.embedders.forward_process import shared_helper_restarts
from agent.errors import AgentError
from agent.registry import ModelRegistry
from cache.failopen import FailOpenStore
from cache.verdicts_redis import RedisVerdicts
from metrics.degradation import DegradationSnapshot
from metrics.rate_limit_redis import RedisRateLimiter
from server.composition import Components

UNKNOWN_PROVIDER = "unknown"


def degradation_snapshot(components: Components) -> DegradationSnapshot:
    """The current `DegradationSnapshot` of ``components``."""
    cost = components.cost
    tracker = cost.accounting.tracker
    redis_errors: dict[tuple[str, str], int] = {}
    fail_open: dict[str, int] = {}
    _add(redis_errors, "cost", tracker.errors_by_op)
    if isinstance(components.store, FailOpenStore):
        _add(redis_errors, "cache", components.store.errors_by_op)
    if isinstance(cost.limiter, RedisRateLimiter):
        _add(redis_errors, "rate_limit", cost.limiter.errors_by_op)
        fail_open["rate_limit"] = cost.limiter.fail_open_total
    if cost.budget is not None:
        _add(redis_errors, "budget", cost.budget.errors_by_op)
        fail_open["budget"] = cost.budget.fail_open_total
    dropped = {"cost_record": tracker.dropped_records}
    webhook_failures: dict[str, int] = {}
    if cost.alert_webhook is not None:
        webhook_failures["budget_alert"] = cost.alert_webhook.failed
        dropped["budget_alert"] = cost.alert_webhook.dropped
    replicator, semantic = components.replicator, components.semantic_cache
    if replicator is not None:
        _add(redis_errors, "replication", replicator.errors_by_op)
        dropped["semantic_replication"] = replicator.dropped_total
    if semantic is not None and isinstance(semantic.verdicts, RedisVerdicts):
        _add(redis_errors, "verdicts", semantic.verdicts.errors_by_op)
    return DegradationSnapshot(
        breakers=_breakers(components.breakers, components.registry),
        redis_errors=redis_errors,
        fail_open=fail_open,
        webhook_failures=webhook_failures,
        dropped=dropped,
        journal_pending=tracker.journal_pending,
        embedder_helper_restarts=shared_helper_restarts(),
        semantic_entries=None if semantic is None else semantic.entry_count,
        replication_lag_s=None if replicator is None else replicator.lag_s,
    )


def _add(into: dict[tuple[str, str], int], component: str, by_op: Mapping[str, int]) -> None:
    for op, count in by_op.items():
        into[component, op] = count


def _breakers(breakers: ModelBreakers | None, registry: ModelRegistry) -> dict[str, dict[str, int]]:
    # Every declared provider shows up (all closed at first), so an alert on "open > 0" has
    # a series to watch before the first failure.
    counts: dict[str, Counter[str]] = defaultdict(Counter)
    for provider in registry.providers():
        counts[provider.name]["closed"] += 0
    for model, state in (breakers.states() if breakers is not None else {}).items():
        counts[_provider_of(registry, model)][str(state)] += 1
    return {provider: dict(states) for provider, states in counts.items()}


def _provider_of(registry: ModelRegistry, model: str) -> str:
    try:
        return registry.resolve(model).provider.name
    except AgentError:  # a name past the breakers' bound ("other") or no longer declared
        return UNKNOWN_PROVIDER
