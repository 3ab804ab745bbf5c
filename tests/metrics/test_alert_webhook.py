"""AlertWebhook against a real aiohttp server on 127.0.0.1: body, retries, drops, flush."""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import aiohttp
import anyio
import pytest
from aiohttp import web

from metrics.alert_webhook import AlertWebhook
from metrics.budget_alerts import BudgetAlert
from tests.support.redis_server import free_port

pytestmark = pytest.mark.anyio

SECRET = "s3cret-token"


def make_alert(percent: int = 80) -> BudgetAlert:
    return BudgetAlert(
        scope="tenant",
        tenant="acme",
        period="hour",
        threshold_percent=percent,
        spent_usd_micros=8_000_000,
        cap_usd_micros=10_000_000,
        window_start=1_700_000_000.0,
        resets_at=1_700_003_600.0,
        trigger="spend",
    )


class Receiver:
    """Records every POST; answers with scripted statuses (then 200), optionally held."""

    def __init__(self, statuses: list[int], delay_s: float, hold: bool) -> None:
        self.statuses = statuses
        self.delay_s = delay_s
        self.release = anyio.Event()
        if not hold:
            self.release.set()
        self.bodies: list[bytes] = []
        self.content_types: list[str] = []
        self.tokens: list[str | None] = []
        self.url = ""

    async def handle(self, request: web.Request) -> web.Response:
        self.bodies.append(await request.read())
        self.content_types.append(request.headers.get("content-type", ""))
        self.tokens.append(request.query.get("token"))
        await anyio.sleep(self.delay_s)
        await self.release.wait()
        return web.Response(status=self.statuses.pop(0) if self.statuses else 200)

    async def wait_for(self, count: int) -> None:
        with anyio.fail_after(5):
            while len(self.bodies) < count:
                await anyio.sleep(0.01)


@asynccontextmanager
async def serve(
    statuses: list[int] | None = None, *, delay_s: float = 0.0, hold: bool = False
) -> AsyncIterator[Receiver]:
    receiver = Receiver(statuses or [], delay_s, hold)
    app = web.Application()
    app.router.add_post("/hook", receiver.handle)
    runner = web.AppRunner(app, shutdown_timeout=0.5, access_log=None)
    await runner.setup()
    try:
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = int(runner.addresses[0][1])
        receiver.url = f"http://127.0.0.1:{port}/hook?token={SECRET}"
        yield receiver
    finally:
        receiver.release.set()
        await runner.cleanup()


class TestAlertWebhook:
    async def test_posts_alert_as_json_with_type(self) -> None:
        async with serve() as server, aiohttp.ClientSession() as session:
            hook = AlertWebhook(session, server.url)
            async with hook.running():
                await hook(make_alert())
                await server.wait_for(1)
        assert json.loads(server.bodies[0]) == {
            "type": "budget_alert",
            "scope": "tenant",
            "tenant": "acme",
            "period": "hour",
            "threshold_percent": 80,
            "spent_usd_micros": 8_000_000,
            "cap_usd_micros": 10_000_000,
            "window_start": 1_700_000_000.0,
            "resets_at": 1_700_003_600.0,
            "trigger": "spend",
        }
        assert server.content_types == ["application/json"]
        assert server.tokens == [SECRET]
        assert (hook.sent, hook.failed, hook.dropped) == (1, 0, 0)

    async def test_retries_server_error_then_delivers_once(self) -> None:
        async with serve([500, 200]) as server, aiohttp.ClientSession() as session:
            hook = AlertWebhook(session, server.url, max_attempts=3)
            async with hook.running():
                await hook(make_alert())
                await server.wait_for(2)
        assert len(server.bodies) == 2
        assert server.bodies[0] == server.bodies[1]
        assert (hook.sent, hook.failed) == (1, 0)

    async def test_client_error_is_not_retried(self) -> None:
        async with serve([400]) as server, aiohttp.ClientSession() as session:
            hook = AlertWebhook(session, server.url, max_attempts=3)
            async with hook.running():
                await hook(make_alert())
        assert len(server.bodies) == 1
        assert (hook.sent, hook.failed) == (0, 1)

    async def test_full_queue_drops_and_counts(self, caplog: pytest.LogCaptureFixture) -> None:
        caplog.set_level(logging.WARNING, logger="frugal.budget")
        async with serve() as server, aiohttp.ClientSession() as session:
            hook = AlertWebhook(session, server.url, max_pending=2)
            for percent in (50, 80, 100, 100, 100):
                await hook(make_alert(percent))  # no sender yet: never blocks
            assert hook.dropped == 3
            assert "dropped 1 alert(s)" in caplog.text
            async with hook.running():
                await server.wait_for(2)
        assert [json.loads(b)["threshold_percent"] for b in server.bodies] == [50, 80]
        assert (hook.sent, hook.dropped) == (2, 3)

    async def test_dead_url_counts_failed_without_raising(
        self, caplog: pytest.LogCaptureFixture
    ) -> None:
        caplog.set_level(logging.WARNING, logger="frugal.budget")
        port = free_port()  # bound then closed: connections are refused
        async with aiohttp.ClientSession() as session:
            hook = AlertWebhook(
                session, f"http://127.0.0.1:{port}/hook?token={SECRET}", max_attempts=2
            )
            async with hook.running():
                await hook(make_alert())
        assert (hook.sent, hook.failed, hook.dropped) == (0, 1, 0)
        assert f"http://127.0.0.1:{port}" in caplog.text
        assert SECRET not in caplog.text
        assert "/hook" not in caplog.text

    async def test_exit_flushes_queued_alerts(self) -> None:
        async with serve(delay_s=0.05) as server, aiohttp.ClientSession() as session:
            hook = AlertWebhook(session, server.url)
            async with hook.running():
                for percent in (50, 80, 100):
                    await hook(make_alert(percent))
            # running() returned only after all three reached the server.
            assert [json.loads(b)["threshold_percent"] for b in server.bodies] == [50, 80, 100]
        assert (hook.sent, hook.dropped) == (3, 0)

    async def test_exit_gives_up_on_a_stuck_receiver_after_grace(self) -> None:
        async with serve(hold=True) as server, aiohttp.ClientSession() as session:
            hook = AlertWebhook(session, server.url, timeout_s=60)
            started = anyio.current_time()
            async with hook.running(grace_s=0.2):
                await hook(make_alert(50))
                await hook(make_alert(80))
                await server.wait_for(1)
            assert anyio.current_time() - started < 5  # not the 60 s request timeout
        assert (hook.sent, hook.failed, hook.dropped) == (0, 0, 2)

    async def test_after_exit_alerts_are_dropped_not_raised(self) -> None:
        async with serve() as server, aiohttp.ClientSession() as session:
            hook = AlertWebhook(session, server.url)
            async with hook.running():
                pass
            await hook(make_alert())
        assert hook.dropped == 1
        assert server.bodies == []
