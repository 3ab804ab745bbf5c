"""DegradationMetrics: snapshots of the components' tallies become counters that only grow by
what happened since the previous scrape, and gauges that follow the state."""

from __future__ import annotations

from metrics.degradation import DegradationSnapshot
from metrics.prometheus import GatewayMetrics
from tests.metrics.test_prometheus_metrics import render


def test_tallies_become_counters_that_grow_by_the_difference() -> None:
    metrics = GatewayMetrics()
    metrics.degradation.refresh(
        DegradationSnapshot(
            redis_errors={("cache", "GET"): 3, ("budget", "reserve"): 1},
            fail_open={"budget": 1, "rate_limit": 0},
            dropped={"cost_record": 0, "semantic_replication": 2},
        )
    )
    metrics.degradation.refresh(
        DegradationSnapshot(
            redis_errors={("cache", "GET"): 5, ("budget", "reserve"): 1},
            fail_open={"budget": 4, "rate_limit": 2},
            dropped={"cost_record": 1, "semantic_replication": 2},
        )
    )
    seen = render(metrics)
    assert seen.series("frugal_redis_errors_total") == {
        (("component", "cache"), ("op", "GET")): 5,
        (("component", "budget"), ("op", "reserve")): 1,
    }
    assert seen.series("frugal_fail_open_total") == {
        (("guard", "budget"),): 4,
        (("guard", "rate_limit"),): 2,
    }
    assert seen.series("frugal_dropped_events_total") == {
        (("kind", "cost_record"),): 1,
        (("kind", "semantic_replication"),): 2,
    }


def test_a_tally_that_starts_over_counts_from_its_new_value() -> None:
    metrics = GatewayMetrics()
    metrics.degradation.refresh(DegradationSnapshot(webhook_failures={"budget_alert": 3}))
    metrics.degradation.refresh(DegradationSnapshot(webhook_failures={"budget_alert": 1}))
    metrics.degradation.refresh(DegradationSnapshot(webhook_failures={"budget_alert": 2}))
    metrics.degradation.count_webhook_failure("batch")
    assert render(metrics).series("frugal_webhook_failures_total") == {
        (("webhook", "budget_alert"),): 4,
        (("webhook", "batch"),): 1,
    }


def test_gauges_follow_breakers_backlog_index_and_lag() -> None:
    metrics = GatewayMetrics()
    metrics.degradation.refresh(
        DegradationSnapshot(
            breakers={"openai": {"closed": 2, "open": 1}, "anthropic": {"closed": 1}},
            journal_pending=7,
            semantic_entries=120,
            replication_lag_s=0.25,
        )
    )
    metrics.degradation.refresh(
        DegradationSnapshot(breakers={"openai": {"closed": 2, "half_open": 1}}, journal_pending=0)
    )
    seen = render(metrics)
    assert seen.series("frugal_circuit_breakers") == {
        (("provider", "openai"), ("state", "closed")): 2,
        (("provider", "openai"), ("state", "open")): 0,
        (("provider", "openai"), ("state", "half_open")): 1,
        (("provider", "anthropic"), ("state", "closed")): 1,
        (("provider", "anthropic"), ("state", "open")): 0,
        (("provider", "anthropic"), ("state", "half_open")): 0,
    }
    assert seen.value("frugal_cost_journal_pending") == 0
    # A reading that has no index or lag keeps the last one.
    assert seen.value("frugal_semantic_cache_entries") == 120
    assert seen.value("frugal_semantic_replication_lag_seconds") == 0.25


def test_helper_restarts_become_a_counter() -> None:
    metrics = GatewayMetrics()
    metrics.degradation.refresh(DegradationSnapshot(embedder_helper_restarts=0))
    metrics.degradation.refresh(DegradationSnapshot(embedder_helper_restarts=2))
    assert render(metrics).series("frugal_embedder_helper_restarts_total") == {(): 2}
