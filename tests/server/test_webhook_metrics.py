"""A batch webhook the receiver refuses is counted on /metrics (real lane, real Redis, the
simulator's batch API, a real receiver)."""

from __future__ import annotations

from pathlib import Path

import aiohttp
import anyio
import pytest
from aiohttp import web

from tests.support.batch import (
    batch_sim,
    chat_line,
    lane_settings,
    prefix,
    sdk,
    submit,
    wait_done,
)
from tests.support.cost_http import Exposition
from tests.support.gateway import run_gateway
from tests.support.redis_server import RedisServer
from tests.support.simulator import RunningSimulator

pytestmark = pytest.mark.anyio

__all__ = ["batch_sim", "prefix"]  # fixtures, used by name


async def test_a_refused_batch_webhook_counts_as_a_webhook_failure(
    batch_sim: RunningSimulator, redis_server: RedisServer, tmp_path: Path, prefix: str
) -> None:
    received: list[bytes] = []

    async def hook(request: web.Request) -> web.Response:
        received.append(await request.read())
        return web.Response(status=410)  # a 4xx is final: no retry

    app = web.Application()
    app.router.add_post("/hook", hook)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    port = runner.addresses[0][1]
    env = {"FRUGAL_BATCH_WEBHOOK_URL": f"http://127.0.0.1:{port}/hook"}
    try:
        settings = lane_settings(batch_sim, redis_server, tmp_path / "files", prefix, **env)
        async with run_gateway(settings) as gw, aiohttp.ClientSession() as http:
            await sdk(gw.base_url, lambda c: wait_done(c, submit(c, [chat_line("w", "hi")]).id))
            with anyio.fail_after(10):
                while True:
                    async with http.get(f"{gw.base_url}/metrics") as response:
                        seen = Exposition(await response.text())
                    if seen.total("frugal_webhook_failures_total", webhook="batch"):
                        break
                    await anyio.sleep(0.05)
    finally:
        await runner.cleanup()
    assert len(received) == 1
    assert seen.total("frugal_webhook_failures_total", webhook="batch") == 1
