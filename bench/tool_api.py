"""A two-endpoint HTTP API answering after a fixed delay, for the tool fan-out bench.

python -m bench.tool_api --port 8100 --delay-ms 200
"""

from __future__ import annotations

import argparse
import asyncio

from aiohttp import web


def app(delay_s: float) -> web.Application:
    """``GET /weather`` and ``GET /stock/{sku}``, each taking ``delay_s``."""

    async def weather(request: web.Request) -> web.Response:
        await asyncio.sleep(delay_s)
        return web.json_response({"sky": "sunny"})

    async def stock(request: web.Request) -> web.Response:
        await asyncio.sleep(delay_s)
        return web.json_response({"sku": request.match_info["sku"], "level": 7})

    application = web.Application()
    application.router.add_get("/weather", weather)
    application.router.add_get("/stock/{sku}", stock)
    return application


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--delay-ms", type=float, default=200.0)
    options = parser.parse_args()
    web.run_app(app(options.delay_ms / 1000), host="127.0.0.1", port=options.port, print=None)
