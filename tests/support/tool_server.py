"""A small HTTP API for tool tests: records when each request started and ended."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

import anyio
from aiohttp import web


@dataclass
class ToolServer:
    """The server's base URL and, per path, the (start, end) perf_counter times it saw."""

    base_url: str = ""
    spans: dict[str, list[tuple[float, float]]] = field(default_factory=dict)
    seen: list[tuple[str, dict[str, str], bytes]] = field(default_factory=list)

    def count(self, prefix: str) -> int:
        return sum(len(v) for k, v in self.spans.items() if k.startswith(prefix))


@asynccontextmanager
async def run_tool_server(delay_s: float = 0.25, slow_s: float = 1.0) -> AsyncIterator[ToolServer]:
    """Serve ``/weather``, ``/stock/{sku}`` (``delay_s`` each), ``/slow`` (``slow_s``),
    ``/users/{user_id}/plan`` and ``POST /refunds`` on a free loopback port."""
    server = ToolServer()

    def timed(sleep_s: float, payload: object) -> web.Handler:
        async def handler(request: web.Request) -> web.StreamResponse:
            started = time.perf_counter()
            body = await request.read()
            server.seen.append((request.path_qs, dict(request.headers), body))
            await anyio.sleep(sleep_s)
            server.spans.setdefault(request.path, []).append((started, time.perf_counter()))
            data = payload(request) if callable(payload) else payload
            return web.json_response(data)

        return handler

    app = web.Application()
    app.router.add_get(
        "/weather",
        timed(delay_s, {"forecast": {"sky": "sunny", "temp_c": 21}, "internal": "x" * 50}),
    )
    app.router.add_get(
        "/stock/{sku}", timed(delay_s, lambda r: {"sku": r.match_info["sku"], "level": 7})
    )
    app.router.add_get("/slow", timed(slow_s, {"eta": "never"}))
    app.router.add_get(
        "/users/{user_id}/plan",
        timed(0, lambda r: {"user": r.match_info["user_id"], "plan": "pro"}),
    )
    app.router.add_post("/refunds", timed(0, {"refund": "queued"}))
    app.router.add_get("/contact", timed(0, {"email": "jane.roe@example.com"}))
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    server.base_url = f"http://127.0.0.1:{port}"
    try:
        yield server
    finally:
        await runner.cleanup()
