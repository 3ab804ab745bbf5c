"""The dashboard's server side over real HTTP: ``/stats/history`` (per tenant, shared by two
replicas on one real Redis and kept across a restart, partial during an outage),
``/stats?tenant=``, the savings split by mechanism (the batch lane's included), and the A/B
variants on ``/metrics``."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import aiohttp
import msgspec
import pytest
from prometheus_client.parser import text_string_to_metric_families

from agent.agents import SUPPORT_AGENT_FILE
from metrics.savings import BASELINES, SavedSplit, split_saving
from server.config import load_settings
from server.settings import AuthSettings
from tests.server.test_agent_variants_http import CONFIG as VARIANTS_CONFIG
from tests.support.batch import batch_sim, chat_line, lane_settings, prefix, sdk, submit, wait_done
from tests.support.cost_http import (
    ACME_KEY,
    ADMIN_KEY,
    BETA_KEY,
    FAST_SIMULATED,
    bearer,
    fast_settings,
    with_keys,
)
from tests.support.gateway import run_gateway
from tests.support.redis_server import ControllableRedisServer, RedisServer
from tests.support.simulator import RunningSimulator

pytestmark = pytest.mark.anyio

__all__ = ["batch_sim", "prefix"]  # fixtures, used by name

ACME_READ_KEY = "acme-read-0123456789abcdef"
ADMIN = bearer(ADMIN_KEY)


async def ask(
    http: aiohttp.ClientSession, base_url: str, message: str, key: str | None = None
) -> dict[str, Any]:
    headers = bearer(key) if key else {}
    async with http.post(f"{base_url}/chat", json={"message": message}, headers=headers) as r:
        body = await r.json()
        assert r.status == 200, body
        return dict(body)


async def get(
    http: aiohttp.ClientSession, url: str, headers: dict[str, str] | None = None
) -> tuple[int, Any]:
    async with http.get(url, headers=ADMIN if headers is None else headers) as response:
        return response.status, await response.json()


def split_of(answers: list[dict[str, Any]]) -> SavedSplit:
    return sum((split_saving(a["cache"], a["saved_usd_micros"]) for a in answers), SavedSplit())


async def test_history_and_stats_per_tenant(http: aiohttp.ClientSession) -> None:
    settings = with_keys(fast_settings())
    settings = msgspec.structs.replace(
        settings,
        auth=AuthSettings(api_keys=settings.auth.api_keys, read_keys=(f"acme:{ACME_READ_KEY}",)),
    )
    async with run_gateway(settings) as gw:
        base = gw.base_url
        acme = [
            await ask(http, base, q, ACME_KEY)
            for q in ("How do I reset my password?", "Do you ship to Canada?")
        ]
        acme.append(await ask(http, base, "How do I reset my password?", ACME_KEY))
        beta = [await ask(http, base, "What is your refund policy?", BETA_KEY)]
        assert acme[-1]["cache"] == "exact"

        status, everyone = await get(http, f"{base}/stats/history?window=15m")
        assert status == 200
        assert (everyone["window_s"], everyone["step_s"], everyone["tenant"]) == (900, 60, None)
        assert everyone["tenants"] == ["acme", "beta"]
        points = everyone["points"]
        assert len(points) == 15
        assert sum(p["calls"] for p in points) == 4
        assert sum(p["exact_hits"] for p in points) == 1
        assert sum(p["cost_usd_micros"] for p in points) == sum(
            a["cost_usd_micros"] for a in acme + beta
        )
        history_saved = sum((SavedSplit(**p["saved"]) for p in points), SavedSplit())
        assert history_saved == split_of(acme + beta)
        assert any(p["latency_p50_ms"] for p in points)

        status, mine = await get(http, f"{base}/stats/history?tenant=acme&window=15m")
        assert (status, mine["tenant"]) == (200, "acme")
        assert sum(p["calls"] for p in mine["points"]) == 3

        # /stats: the same split, for everyone and cut down to one tenant.
        status, stats = await get(http, f"{base}/stats")
        assert SavedSplit(**stats["saved"]) == split_of(acme + beta)
        assert stats["saved"]["total"] == stats["saved_usd_micros"] > 0
        assert stats["saved_baselines"] == BASELINES and stats["tenant"] is None
        status, acme_stats = await get(http, f"{base}/stats?tenant=acme")
        assert (acme_stats["tenant"], acme_stats["calls"]) == ("acme", 3)
        assert SavedSplit(**acme_stats["saved"]) == split_of(acme)

        # A read key sees its own tenant, whatever it asks for, and never another one.
        status, own = await get(http, f"{base}/stats/history", bearer(ACME_READ_KEY))
        assert (status, own["tenant"]) == (200, "acme")
        status, other = await get(http, f"{base}/stats/history?tenant=beta", bearer(ACME_READ_KEY))
        assert (status, other["error"]["code"]) == (403, "forbidden")
        status, refused = await get(http, f"{base}/stats/history", {})
        assert (status, refused["error"]["code"]) == (401, "unauthorized")
        status, bad = await get(http, f"{base}/stats/history?window=1y")
        assert (status, bad["error"]["code"]) == (422, "invalid_request")
        assert "15m, 1h, 6h, 24h" in bad["error"]["message"]


async def test_two_replicas_and_a_restart_draw_the_same_history(
    http: aiohttp.ClientSession, redis_server: RedisServer
) -> None:
    env = {
        "FRUGAL_REDIS_URL": redis_server.url,
        "FRUGAL_REDIS_KEY_PREFIX": f"hist-{uuid.uuid4().hex[:10]}:",
        "FRUGAL_REDIS_TIMEOUT_S": "2",
    }
    settings = load_settings({**FAST_SIMULATED, **env})
    questions = ("How do I reset my password?", "Can I pay with PayPal?", "Do you ship to Canada?")
    async with run_gateway(settings) as first, run_gateway(settings) as second:
        for i, question in enumerate(questions * 2):
            await ask(http, (first, second)[i % 2].base_url, question)
        seen = [
            (await get(http, f"{gw.base_url}/stats/history?window=1h"))[1] for gw in (first, second)
        ]
    assert seen[0]["points"] == seen[1]["points"]
    assert sum(p["calls"] for p in seen[0]["points"]) == 6
    assert sum(p["exact_hits"] + p["semantic_hits"] for p in seen[0]["points"]) == 3
    # A new process on the same Redis (a restarted replica, a reloaded page) sees it all.
    async with run_gateway(settings) as restarted:
        _, again = await get(http, f"{restarted.base_url}/stats/history?window=1h")
    assert sum(p["calls"] for p in again["points"]) == 6


async def test_variants_are_on_metrics(http: aiohttp.ClientSession, tmp_path: Path) -> None:
    path = tmp_path / "frugal.toml"
    path.write_text(VARIANTS_CONFIG.format(support=SUPPORT_AGENT_FILE))
    async with run_gateway(load_settings(FAST_SIMULATED, config_file=path)) as gw:
        for index in range(6):
            body = {"message": "Do you ship to Canada?", "session_id": f"s-{index}"}
            async with http.post(f"{gw.base_url}/chat", json=body) as response:
                assert response.status == 200
        async with http.get(f"{gw.base_url}/metrics") as response:
            text = await response.text()
        _, stats = await get(http, f"{gw.base_url}/stats")
    samples = {
        (s.name, s.labels["variant"]): s.value
        for family in text_string_to_metric_families(text)
        if family.name.startswith("frugal_variant_")
        for s in family.samples
    }
    rows = {row["variant"]: row for row in stats["variants"]}
    assert set(rows) == {"cheap", "strong"}
    for variant, row in rows.items():
        assert samples["frugal_variant_requests", variant] == row["requests"]
        assert samples["frugal_variant_cost_usd_micros", variant] == row["cost_usd_micros"]
        assert samples["frugal_variant_cache_hits", variant] == row["cache_hits"]
        assert samples["frugal_variant_fallbacks", variant] == row["fallbacks"]
        assert ("frugal_variant_mean_score", variant) not in samples  # no feedback yet
    assert sum(row["requests"] for row in rows.values()) == 6


async def test_the_batch_lane_saving_is_one_figure_everywhere(
    http: aiohttp.ClientSession,
    batch_sim: RunningSimulator,
    redis_server: RedisServer,
    tmp_path: Path,
    prefix: str,
) -> None:
    settings = lane_settings(batch_sim, redis_server, tmp_path / "files", prefix)
    async with run_gateway(settings) as gw:
        # Asked interactively first: the same batch line is then answered from the cache.
        first = chat_line("hit", "batch question 0")["body"]
        async with http.post(f"{gw.base_url}/v1/chat/completions", json=first) as response:
            assert response.status == 200
        lines = [chat_line("hit", "batch question 0")] + [
            chat_line(f"b{i}", f"batch question {i}") for i in (1, 2)
        ]
        await sdk(gw.base_url, lambda client: wait_done(client, submit(client, lines).id))
        _, stats = await get(http, f"{gw.base_url}/stats")
        _, history = await get(http, f"{gw.base_url}/stats/history?window=15m")
    lane = stats["batch"]
    assert (lane["requests"], lane["cache_hits"], lane["provider_batched"]) == (3, 1, 2)
    # The lane's "saved vs interactive" is the batch mechanism of /stats and of the history.
    assert lane["saved_usd_micros"] > lane["cost_usd_micros"] > 0
    assert stats["saved"]["batch"] == lane["saved_usd_micros"]
    assert stats["by_tier"]["batch"]["calls"] == 3
    assert sum(p["saved"]["batch"] for p in history["points"]) == lane["saved_usd_micros"]


async def test_history_during_a_redis_outage_is_partial_not_an_error(
    http: aiohttp.ClientSession, tmp_path: Path
) -> None:
    with ControllableRedisServer() as server:
        settings = fast_settings(
            FRUGAL_REDIS_URL=server.url,
            FRUGAL_REDIS_KEY_PREFIX=f"t-{uuid.uuid4().hex[:10]}:",
            FRUGAL_REDIS_TIMEOUT_S="0.5",
            FRUGAL_COST_JOURNAL_DIR=str(tmp_path),
        )
        async with run_gateway(settings) as gw:
            await ask(http, gw.base_url, "How do I reset my password?")
            server.stop()
            await ask(http, gw.base_url, "Outage question?")
            status, view = await get(http, f"{gw.base_url}/stats/history")
            assert (status, view["partial"], view["points"]) == (200, True, [])
            _, stats = await get(http, f"{gw.base_url}/stats")
            assert stats["partial"] is True and stats["history_dropped"] == 1
            server.start()  # empty: the minute of the outage is not replayed into the charts
            await ask(http, gw.base_url, "After the outage?")
            status, view = await get(http, f"{gw.base_url}/stats/history")
    assert (status, view["partial"]) == (200, False)
    assert sum(p["calls"] for p in view["points"]) == 1
