"""The ``/_sim/*`` control endpoints: stats, received requests, produced usage, reset and
per-model faults."""

from __future__ import annotations

import msgspec
from aiohttp import web

from simulator.faults import FaultChange
from simulator.state import SIM_STATE

_encoder = msgspec.json.Encoder()
_change_decoder = msgspec.json.Decoder(FaultChange)


def _json(payload: object, status: int = 200) -> web.Response:
    return web.Response(
        status=status, body=_encoder.encode(payload), content_type="application/json"
    )


async def _requests(request: web.Request) -> web.Response:
    return _json(request.app[SIM_STATE].received_requests())


async def _produced(request: web.Request) -> web.Response:
    return _json(request.app[SIM_STATE].produced.listing())


async def _stats(request: web.Request) -> web.Response:
    return _json(request.app[SIM_STATE].snapshot())


async def _reset(request: web.Request) -> web.Response:
    request.app[SIM_STATE].reset()
    return _json({"reset": True})


async def _faults(request: web.Request) -> web.Response:
    return _json({"faults_by_model": request.app[SIM_STATE].model_faults.listing()})


async def _change_fault(request: web.Request) -> web.Response:
    # {"model": "gpt-4o", "fault": "500"} pins a fault; "fault": null clears it.
    faults = request.app[SIM_STATE].model_faults
    try:
        faults.change(_change_decoder.decode(await request.read()))
    except (msgspec.DecodeError, ValueError) as exc:
        return _json({"error": {"code": "bad_request", "message": str(exc)}}, status=400)
    return _json({"faults_by_model": faults.listing()})


def add_control_routes(app: web.Application) -> None:
    """Register ``GET /_sim/stats``, ``GET /_sim/requests``, ``GET /_sim/produced``,
    ``POST /_sim/reset`` and ``GET``/``PUT /_sim/faults`` on ``app``."""
    app.router.add_get("/_sim/stats", _stats)
    app.router.add_get("/_sim/requests", _requests)
    app.router.add_get("/_sim/produced", _produced)
    app.router.add_post("/_sim/reset", _reset)
    app.router.add_get("/_sim/faults", _faults)
    app.router.add_put("/_sim/faults", _change_fault)
