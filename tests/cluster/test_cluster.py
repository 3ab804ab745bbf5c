"""The deployment as one piece: real HAProxy, real Redis, three `frugal serve` replicas and the
simulator (`bench.cluster`). Load goes through the balancer while one replica is SIGKILLed and
another drained with streams in flight; no request is lost and the money adds up across the
fleet. ``make cluster-test`` runs a longer variant (FRUGAL_CLUSTER_TEST_REQUESTS)."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import pytest

from bench.cluster.fleet import start_cluster, stop_cluster
from bench.cluster.scenario import run_scenario

REQUESTS = int(os.environ.get("FRUGAL_CLUSTER_TEST_REQUESTS", "240"))
# The embedder is the simulator's (OpenAI wire): three replicas loading MiniLM side by side
# would spend most of this test starting up; what is tested here is the fleet, not the model.
# One call of the scenario: ~20 prompt and 60 output tokens of gpt-4o-mini (~40 micro-USD).
MAX_CALL_USD_MICROS = 100
CONCURRENCY = 16
FAST_START = {"FRUGAL_EMBEDDER_BACKEND": "openai", "FRUGAL_CACHE_SEMANTIC_ENABLED": "false"}


@pytest.mark.slow
@pytest.mark.xdist_group("cluster")
@pytest.mark.timeout(300)
def test_fleet_behind_haproxy_survives_a_kill_and_a_drain(tmp_path: Path) -> None:
    cluster = start_cluster(tmp_path / "cluster", replicas=3, settings=FAST_START)
    try:
        result = asyncio.run(run_scenario(cluster, requests=REQUESTS, concurrency=CONCURRENCY))
    finally:
        stop_cluster(cluster)
    print(result.summary())
    assert result.lost == 0, result.summary()
    # The drained replica finished every stream it had in flight, then exited on its own.
    assert result.streams_in_flight_at_sigterm >= 1
    assert result.drained_streams_completed == result.streams_in_flight_at_sigterm
    assert result.drain_exit_status == 0
    # Every replica served before the faults; the survivor served the rest.
    assert set(result.by_replica) == {m.name for m in cluster.replicas}
    # Exact money across the fleet: what clients were billed is what /stats holds (the
    # shared Redis), whichever replica answered; plus the calls the SIGKILLed replica had
    # recorded but died before answering (retried elsewhere by HAProxy or the client): the
    # provider did produce those, so /stats is right to count them. Only requests in flight
    # at the kill can be such calls, and each costs at most one call.
    assert result.client_cost_usd_micros > 0
    recorded_unanswered = result.stats_calls - result.succeeded
    assert 0 <= recorded_unanswered <= CONCURRENCY, result.summary()
    extra_stats = result.stats_cost_usd_micros - result.client_cost_usd_micros
    assert 0 <= extra_stats <= recorded_unanswered * MAX_CALL_USD_MICROS, result.summary()
    # The budget ledger holds that too, plus at most the calls the SIGKILLed replica had
    # settled with the provider but not yet recorded or answered: the cost record died
    # with the process.
    extra = result.budget_spent_usd_micros - result.client_cost_usd_micros
    assert 0 <= extra <= CONCURRENCY * MAX_CALL_USD_MICROS, result.summary()
