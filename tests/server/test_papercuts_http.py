"""Papercuts over real HTTP: cache hits say ``simulated`` as their stream's ``meta`` does,
admin invalidation by message targets one tenant, and ``/stats`` says which figures are the
fleet's and which this replica's."""

from __future__ import annotations

import json
from typing import Any

import aiohttp
import msgspec
import pytest

from server.settings import AuthSettings, Settings
from server.stats_wire import UNSCOPED, Stats
from tests.support.cost_http import ACME_KEY, ADMIN_KEY, BETA_KEY, bearer, fast_settings
from tests.support.gateway import RunningGateway, run_gateway
from tests.support.redis_server import RedisServer

pytestmark = pytest.mark.anyio
QUESTION = "How do I reset my password?"


async def stream_events(
    http: aiohttp.ClientSession, gw: RunningGateway, message: str
) -> dict[str, dict[str, Any]]:
    """The named events of one ``/chat/stream`` answer (last of each name)."""
    async with http.get(f"{gw.base_url}/chat/stream", params={"message": message}) as response:
        assert response.status == 200
        text = await response.text()
    events: dict[str, dict[str, Any]] = {}
    for frame in text.split("\n\n"):
        lines = dict(line.split(": ", 1) for line in frame.splitlines() if ": " in line)
        if "event" in lines:
            events[lines["event"]] = json.loads(lines["data"])
    return events


async def test_a_cache_hit_says_simulated_in_every_event() -> None:
    async with run_gateway(fast_settings()) as gw, aiohttp.ClientSession() as http:
        miss = await stream_events(http, gw, QUESTION)
        hit = await stream_events(http, gw, QUESTION)
        async with http.post(f"{gw.base_url}/chat", json={"message": QUESTION}) as response:
            whole = await response.json()
    assert miss["meta"]["cache"] is None and hit["meta"]["cache"] == "exact"
    assert miss["meta"]["simulated"] is miss["done"]["simulated"] is True
    assert hit["meta"]["simulated"] is hit["done"]["simulated"] is True
    assert whole["cache"] == "exact" and whole["simulated"] is True


def two_tenants(redis_url: str | None = None) -> Settings:
    env = {"FRUGAL_SERVER_ADMIN_KEY": ADMIN_KEY}
    if redis_url:
        env |= {"REDIS_URL": redis_url, "FRUGAL_REDIS_KEY_PREFIX": "papercut-stats:"}
    base = fast_settings(**env)
    auth = AuthSettings(api_keys=(f"acme:{ACME_KEY}", f"beta:{BETA_KEY}"))
    return msgspec.structs.replace(base, auth=auth)


async def ask(http: aiohttp.ClientSession, gw: RunningGateway, key: str) -> dict[str, Any]:
    async with http.post(
        f"{gw.base_url}/chat", json={"message": QUESTION}, headers=bearer(key)
    ) as response:
        assert response.status == 200
        return dict(await response.json())


async def test_admin_invalidation_by_message_targets_one_tenant() -> None:
    async with run_gateway(two_tenants()) as gw, aiohttp.ClientSession() as http:
        for key in (ACME_KEY, BETA_KEY):
            await ask(http, gw, key)
            assert (await ask(http, gw, key))["cache"] == "exact"
        async with http.post(
            f"{gw.base_url}/admin/cache/invalidate",
            json={"message": QUESTION, "tenant": "acme"},
            headers=bearer(ADMIN_KEY),
        ) as response:
            assert response.status == 200
            assert await response.json() == {"exact_removed": 1, "semantic_removed": 1}
        assert (await ask(http, gw, ACME_KEY))["cache"] is None
        assert (await ask(http, gw, BETA_KEY))["cache"] == "exact"
        async with http.post(
            f"{gw.base_url}/admin/cache/invalidate",
            json={"message": QUESTION, "tenant": "no such tenant!"},
            headers=bearer(ADMIN_KEY),
        ) as response:
            assert response.status == 422


async def test_stats_says_which_figures_are_the_fleets(redis_server: RedisServer) -> None:
    settings = two_tenants(redis_server.url)
    async with (
        run_gateway(settings) as a,
        run_gateway(settings) as b,
        aiohttp.ClientSession() as http,
    ):
        await ask(http, a, ACME_KEY)
        await ask(http, b, BETA_KEY)
        views = []
        for gw in (a, b):
            async with http.get(f"{gw.base_url}/stats", headers=bearer(ADMIN_KEY)) as response:
                views.append(await response.json())
    first, second = views
    # The money is one total on both replicas; the latency window is each replica's own.
    assert first["cost_usd_micros"] == second["cost_usd_micros"] > 0 and first["calls"] == 2
    assert first["latency_ms"]["count"] == second["latency_ms"]["count"] == 1
    scope = first["scope"]
    assert scope["cost_usd_micros"] == scope["by_tenant"] == scope["budget"] == "fleet"
    assert scope["latency_ms"] == scope["errors"] == scope["ttft_ms"] == "replica"
    figures = {f.name for f in msgspec.structs.fields(Stats)} - UNSCOPED
    assert set(scope) == figures
