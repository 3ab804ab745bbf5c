"""Degradation on /metrics and /stats over real HTTP: a real Redis stopped under a running
gateway, and a provider failing behind the simulator until its circuit breaker opens."""

from __future__ import annotations

import uuid
from pathlib import Path

import aiohttp
import anyio
import pytest

from server.config import load_settings
from simulator import SimConfig
from tests.support.cost_http import (
    ACME_KEY,
    ADMIN_KEY,
    Exposition,
    Gateway,
    bearer,
    fast_settings,
    stats_of,
    with_keys,
)
from tests.support.gateway import run_gateway
from tests.support.redis_server import ControllableRedisServer, RedisServer
from tests.support.simulator import run_simulator

pytestmark = pytest.mark.anyio


async def metrics_of(http: aiohttp.ClientSession, base_url: str) -> Exposition:
    async with http.get(f"{base_url}/metrics", headers=bearer(ADMIN_KEY)) as response:
        assert response.status == 200
        return Exposition(await response.text())


class TestRedisOutage:
    async def test_an_outage_shows_as_redis_errors_fail_open_decisions_and_a_journal_backlog(
        self, http: aiohttp.ClientSession, tmp_path: Path
    ) -> None:
        with ControllableRedisServer() as server:
            settings = with_keys(
                fast_settings(
                    FRUGAL_REDIS_URL=server.url,
                    FRUGAL_REDIS_KEY_PREFIX=f"t-{uuid.uuid4().hex[:10]}:",
                    FRUGAL_REDIS_TIMEOUT_S="0.5",
                    FRUGAL_COST_JOURNAL_DIR=str(tmp_path),
                    FRUGAL_COST_JOURNAL_REPLAY_INTERVAL_S="600",
                    FRUGAL_BUDGET_GLOBAL_DAILY_USD_MICROS="100000000",
                    FRUGAL_BUDGET_FAIL_OPEN="true",  # fail-closed is the default
                    FRUGAL_LIMITS_REQUESTS_PER_WINDOW="1000",
                )
            )
            async with run_gateway(settings) as running:
                gw = Gateway(http, running.base_url, headers=bearer(ACME_KEY))
                await gw.chat("How do I reset my password?")
                healthy = await metrics_of(http, running.base_url)
                assert healthy.total("frugal_fail_open_total") == 0
                # (Replication's blocking XREAD may time out on a loaded machine: left out.)
                for component in ("budget", "rate_limit", "cost", "cache"):
                    assert healthy.total("frugal_redis_errors_total", component=component) == 0
                assert healthy.total("frugal_cost_journal_pending") == 0
                server.stop()

                for i in range(2):
                    await gw.chat(f"Outage question number {i}?")
                seen = await metrics_of(http, running.base_url)
                assert seen.total("frugal_fail_open_total", guard="budget") == 2
                assert seen.total("frugal_fail_open_total", guard="rate_limit") == 2
                assert seen.total("frugal_redis_errors_total", component="budget") >= 2
                assert seen.total("frugal_redis_errors_total", component="rate_limit") >= 2
                assert seen.total("frugal_redis_errors_total", component="cost") == 2
                assert seen.total("frugal_cost_journal_pending") == 2
                assert seen.total("frugal_dropped_events_total", kind="cost_record") == 0

                stats = await stats_of(http, running.base_url)  # 200, not 503
                assert stats["partial"] is True
                assert stats["partial_parts"] == ["totals", "budget", "batch"]
                assert stats["calls"] == 3 and stats["journal_pending"] == 2

                # A second scrape adds nothing that did not happen again.
                again = await metrics_of(http, running.base_url)
                assert again.total("frugal_fail_open_total") == 4
                server.start()


CONFIG = """
[[registry.providers]]
name = "cloud"
kind = "openai"
base_url = "{sim}/v1"
api_key_env = "CLOUD_KEY"

[[registry.models]]
name = "gpt-4o"
provider = "cloud"
price = {{input = 2500000, output = 10000000}}
fallback = ["gpt-4o-mini"]

[[registry.models]]
name = "gpt-4o-mini"
provider = "cloud"
price = {{input = 150000, output = 600000}}
"""


class TestProviderFailure:
    async def test_breakers_per_provider_and_fallbacks_by_reason(
        self, http: aiohttp.ClientSession, tmp_path: Path
    ) -> None:
        async with run_simulator(SimConfig(tokens_per_s=400.0, output_tokens=8)) as sim:
            path = tmp_path / "frugal.toml"
            path.write_text(CONFIG.format(sim=sim.base_url))
            env = {
                "CLOUD_KEY": "sk-test",
                "FRUGAL_CONFIG": str(path),
                "FRUGAL_FALLBACK_MAX_ATTEMPTS": "1",
                "FRUGAL_FALLBACK_BREAKER_FAILURE_THRESHOLD": "2",
                "FRUGAL_FALLBACK_BREAKER_COOLDOWN_S": "600",
            }
            async with run_gateway(load_settings(env)) as running:
                fresh = await metrics_of(http, running.base_url)
                assert fresh.samples("frugal_circuit_breakers", provider="cloud", state="open") == [
                    0.0
                ]
                put = {"model": "gpt-4o", "fault": "500"}
                async with http.put(f"{sim.base_url}/_sim/faults", json=put) as response:
                    assert response.status == 200
                for i in range(3):
                    body = {
                        "model": "gpt-4o",
                        "messages": [{"role": "user", "content": f"Question {i}?"}],
                    }
                    url = f"{running.base_url}/v1/chat/completions"
                    async with http.post(url, json=body) as response:
                        assert response.status == 200, await response.text()

                seen = await metrics_of(http, running.base_url)
                assert seen.samples("frugal_circuit_breakers", provider="cloud", state="open") == [
                    1.0
                ]
                assert seen.by_label("frugal_fallbacks_total", "reason") == {
                    "primary_error:upstream_error": 2,
                    "circuit_open": 1,
                }


class TestReplication:
    async def test_a_replica_reports_the_entries_it_received_and_their_lag(
        self, http: aiohttp.ClientSession, redis_server: RedisServer
    ) -> None:
        env = {
            "FRUGAL_REDIS_URL": redis_server.url,
            "FRUGAL_REDIS_KEY_PREFIX": f"t-{uuid.uuid4().hex[:10]}:",
            "FRUGAL_REDIS_TIMEOUT_S": "2",
        }
        async with (
            run_gateway(with_keys(fast_settings(**env))) as first,
            run_gateway(with_keys(fast_settings(**env))) as second,
        ):
            before = await metrics_of(http, second.base_url)
            assert before.total("frugal_semantic_cache_entries") == 0
            await Gateway(http, first.base_url, headers=bearer(ACME_KEY)).chat(
                "How do I reset my password?"
            )
            with anyio.fail_after(10):
                while (seen := await metrics_of(http, second.base_url)).total(
                    "frugal_semantic_cache_entries"
                ) < 1:
                    await anyio.sleep(0.05)
            lag = seen.total("frugal_semantic_replication_lag_seconds")
            assert 0 <= lag < 10
            assert seen.total("frugal_dropped_events_total", kind="semantic_replication") == 0
