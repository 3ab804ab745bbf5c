"""A stand-in for your order API, for the "Bring your own agent" example.

    python examples/shop/orders_api.py            # serves http://127.0.0.1:8100

``GET /orders/{order_id}`` answers with the order's status (any id; 404 for "0"). It checks
the bearer token the gateway sends from ``SHOP_API_TOKEN``.
"""

from __future__ import annotations

import os

from aiohttp import web

TOKEN = os.environ.get("SHOP_API_TOKEN", "dev-token")


async def order(request: web.Request) -> web.Response:
    if request.headers.get("Authorization") != f"Bearer {TOKEN}":
        return web.json_response({"error": "unauthorized"}, status=401)
    order_id = request.match_info["order_id"]
    if order_id == "0":
        return web.json_response({"error": "no such order"}, status=404)
    return web.json_response(
        {
            "order": {"id": order_id, "status": "shipped", "carrier": "Posten"},
            "internal": {"warehouse_bin": "B-17"},
        }
    )


def app() -> web.Application:
    application = web.Application()
    application.router.add_get("/orders/{order_id}", order)
    return application


if __name__ == "__main__":
    web.run_app(app(), host="127.0.0.1", port=int(os.environ.get("PORT", "8100")))
