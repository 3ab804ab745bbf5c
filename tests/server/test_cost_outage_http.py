"""A Redis outage over HTTP: the gateway keeps serving, /readyz says degraded, /stats answers
partial from this replica, and the costs of the outage reach Redis once it is back."""

from __future__ import annotations

import uuid
from pathlib import Path

import aiohttp
import anyio
import pytest

from tests.support.cost_http import (
    ACME_KEY,
    Gateway,
    bearer,
    fast_settings,
    stats_of,
    with_keys,
)
from tests.support.gateway import run_gateway
from tests.support.redis_server import ControllableRedisServer

pytestmark = pytest.mark.anyio


class TestRedisOutage:
    async def test_costs_made_during_an_outage_reach_redis_once_it_is_back(
        self, http: aiohttp.ClientSession, tmp_path: Path
    ) -> None:
        with ControllableRedisServer() as server:
            settings = with_keys(
                fast_settings(
                    FRUGAL_REDIS_URL=server.url,
                    FRUGAL_REDIS_KEY_PREFIX=f"t-{uuid.uuid4().hex[:10]}:",
                    FRUGAL_REDIS_TIMEOUT_S="0.5",
                    FRUGAL_COST_JOURNAL_DIR=str(tmp_path),
                    FRUGAL_COST_JOURNAL_REPLAY_INTERVAL_S="0.2",
                )
            )
            async with run_gateway(settings) as running:
                gw = Gateway(http, running.base_url, headers=bearer(ACME_KEY))
                before = await gw.chat("How do I reset my password?")
                server.stop()

                during = [await gw.chat(f"Outage question number {i}?") for i in range(3)]
                stats = await stats_of(http, running.base_url)
                assert stats["partial"] is True
                assert stats["journal_pending"] == 3 and stats["journal_dropped"] == 0
                assert stats["dropped_cost_records"] == 0
                # This replica's own records, the one before the outage included.
                assert stats["cost_usd_micros"] == before.cost + sum(b.cost for b in during)
                async with http.get(f"{running.base_url}/readyz") as ready:
                    body = await ready.json()
                    assert ready.status == 200, body
                assert body["status"] == "degraded" and body["degraded"] == ["redis"]

                server.start()  # empty: only what is replayed (and recorded from now) counts
                with anyio.fail_after(10):
                    while (stats := await stats_of(http, running.base_url))["partial"] or stats[
                        "journal_pending"
                    ]:
                        await anyio.sleep(0.1)
                assert stats["calls"] == 3
                assert stats["cost_usd_micros"] == sum(b.cost for b in during)
                assert stats["by_tenant"]["acme"]["calls"] == 3
                assert _journaled_bytes(tmp_path) == 0


def _journaled_bytes(directory: Path) -> int:
    return sum(path.stat().st_size for path in directory.glob("cost-*.jsonl"))
