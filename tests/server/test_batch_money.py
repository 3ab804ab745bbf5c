"""The batch lane's money (batch price, budget holds) and its completion webhook."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import anyio
import pytest
from aiohttp import web
from openai import OpenAI

from agent.openai_wire import usage_from_dict
from metrics.batch_pricing import batch_price
from metrics.pricing import DEFAULT_PRICES, cost_of
from server.batch_webhook import signature
from tests.support.batch import (
    MODEL,
    batch_sim,
    chat_line,
    get_json,
    lane_settings,
    prefix,
    read_lines,
    sdk,
    submit,
    wait_done,
)
from tests.support.gateway import run_gateway
from tests.support.redis_server import RedisServer
from tests.support.simulator import RunningSimulator

pytestmark = pytest.mark.anyio

__all__ = ["batch_sim", "prefix"]  # fixtures, used by name


class TestBatchMoney:
    async def test_the_budget_is_charged_the_batch_price(
        self, batch_sim: RunningSimulator, redis_server: RedisServer, tmp_path: Path, prefix: str
    ) -> None:
        env = {"FRUGAL_BUDGET_GLOBAL_HOURLY_USD_MICROS": "1000000"}
        settings = lane_settings(batch_sim, redis_server, tmp_path / "files", prefix, **env)
        async with run_gateway(settings) as gw:
            lines = [chat_line(f"m{i}", f"money question {i}") for i in range(3)]

            def run(client: OpenAI) -> dict[str, Any]:
                done = wait_done(client, submit(client, lines).id)
                return read_lines(client, done.output_file_id)

            out = await sdk(gw.base_url, run)
            stats = await get_json(f"{gw.base_url}/stats")
        price = batch_price(DEFAULT_PRICES[MODEL])
        usages = [usage_from_dict(out[f"m{i}"]["response"]["body"]["usage"]) for i in range(3)]
        expected = sum(cost_of(price, usage) for usage in usages)
        assert expected > 0 and stats["batch"]["cost_usd_micros"] == expected
        hour = next(use for use in stats["budget"] if use["period"] == "hour")
        # The hold was settled to exactly what the answers cost at the batch price.
        assert (hour["spent_usd_micros"], hour["reserved_usd_micros"]) == (expected, 0)
        assert stats["by_tier"]["batch"]["cost_usd_micros"] == expected

    async def test_a_group_the_budget_cannot_hold_fails_without_reaching_the_provider(
        self, batch_sim: RunningSimulator, redis_server: RedisServer, tmp_path: Path, prefix: str
    ) -> None:
        env = {"FRUGAL_BUDGET_GLOBAL_HOURLY_USD_MICROS": "1"}
        settings = lane_settings(batch_sim, redis_server, tmp_path / "files", prefix, **env)
        async with run_gateway(settings) as gw:

            def run(client: OpenAI) -> tuple[Any, dict[str, Any]]:
                done = wait_done(client, submit(client, [chat_line("poor", "too dear")]).id)
                return done, read_lines(client, done.error_file_id)

            done, errors = await sdk(gw.base_url, run)
        assert done.status == "completed" and done.request_counts.failed == 1
        assert errors["poor"]["error"]["code"] == "budget_exceeded"
        assert "batches" not in batch_sim.stats().requests


class TestWebhook:
    async def test_an_ended_batch_is_posted_signed_and_retried(
        self, batch_sim: RunningSimulator, redis_server: RedisServer, tmp_path: Path, prefix: str
    ) -> None:
        received: list[tuple[dict[str, str], bytes]] = []

        async def hook(request: web.Request) -> web.Response:
            received.append((dict(request.headers), await request.read()))
            return web.Response(status=500 if len(received) == 1 else 204)

        app = web.Application()
        app.router.add_post("/hook", hook)
        runner = web.AppRunner(app)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = runner.addresses[0][1]
        env = {
            "FRUGAL_BATCH_WEBHOOK_URL": f"http://127.0.0.1:{port}/hook",
            "FRUGAL_BATCH_WEBHOOK_SECRET": "s3cret",
        }
        try:
            settings = lane_settings(batch_sim, redis_server, tmp_path / "files", prefix, **env)
            async with run_gateway(settings) as gw:
                done = await sdk(
                    gw.base_url, lambda c: wait_done(c, submit(c, [chat_line("w", "hook")]).id)
                )
                with anyio.fail_after(10):
                    while len(received) < 2:
                        await anyio.sleep(0.05)
        finally:
            await runner.cleanup()
        headers, body = received[-1]
        event = json.loads(body)
        assert event["type"] == "batch.completed" and event["data"]["id"] == done.id
        stamp = headers["x-frugal-timestamp"]
        assert headers["x-frugal-signature"] == signature("s3cret", stamp, body)
