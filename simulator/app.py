"""The simulator's aiohttp application and a runner that serves it until cancelled."""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Awaitable, Callable

import anyio
from aiohttp import web

from simulator.admission import admit
from simulator.anthropic_batches import add_message_batch_routes
from simulator.anthropic_routes import anthropic_models, count_tokens, messages
from simulator.batches import add_batch_routes
from simulator.config import SimConfig
from simulator.control import add_control_routes
from simulator.errors import Flavour
from simulator.files import add_file_routes
from simulator.openai_embeddings import embeddings
from simulator.openai_routes import chat_completions, openai_model, openai_models
from simulator.rerank import rerank
from simulator.responses_routes import responses
from simulator.state import SIM_STATE, SimState

logger = logging.getLogger("frugal.simulator")

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@web.middleware
async def _log_requests(request: web.Request, handler: Handler) -> web.StreamResponse:
    # One line per request; a request the client abandoned is logged as cancelled.
    started = time.perf_counter()
    outcome = "cancelled"
    try:
        response = await handler(request)
        # A fault that cut the connection leaves a placeholder response: log what happened.
        dropped = request.transport is None or request.transport.is_closing()
        outcome = "dropped" if dropped else str(response.status)
        request_id = f"req_sim{uuid.uuid4().hex[:20]}"
        if not response.prepared:
            response.headers.setdefault("x-request-id", request_id)
            response.headers.setdefault("request-id", request_id)
        return response
    finally:
        elapsed_ms = (time.perf_counter() - started) * 1000
        logger.info(
            "%s %s -> %s in %.1f ms fault=%s",
            request.method,
            request.path,
            outcome,
            elapsed_ms,
            request.headers.get("x-sim-fault", "-"),
        )


async def _models(request: web.Request) -> web.StreamResponse:
    # One path, two providers: Anthropic's SDK always sends anthropic-version.
    state = request.app[SIM_STATE]
    state.count_request("models")
    flavour: Flavour = "anthropic" if "anthropic-version" in request.headers else "openai"
    admitted = await admit(request, state, flavour)
    if isinstance(admitted, web.Response):
        return admitted
    state.stats.responses_ok += 1
    return anthropic_models() if flavour == "anthropic" else openai_models()


async def _model(request: web.Request) -> web.StreamResponse:
    state = request.app[SIM_STATE]
    state.count_request("models")
    admitted = await admit(request, state, "openai")
    if isinstance(admitted, web.Response):
        return admitted
    state.stats.responses_ok += 1
    return openai_model(request.match_info["model_id"])


@web.middleware
async def _record_requests(request: web.Request, handler: Handler) -> web.StreamResponse:
    # Keep what the provider received, byte for byte, before any handler reads it.
    if not request.path.startswith("/_sim/"):
        body = await request.read()
        request.app[SIM_STATE].record_request(request.path, request.headers, body)
    return await handler(request)


def create_sim_app(config: SimConfig) -> web.Application:
    """The simulator app; its `SimState` is ``app[SIM_STATE]``."""
    app = web.Application(middlewares=[_log_requests, _record_requests])
    app[SIM_STATE] = SimState(config)
    app.router.add_post("/v1/chat/completions", chat_completions)
    app.router.add_post("/v1/embeddings", embeddings)
    app.router.add_post("/v1/rerank", rerank)
    app.router.add_post("/v1/responses", responses)
    app.router.add_get("/v1/models", _models)
    app.router.add_get("/v1/models/{model_id}", _model)
    app.router.add_post("/v1/messages", messages)
    app.router.add_post("/v1/messages/count_tokens", count_tokens)
    add_file_routes(app)
    add_batch_routes(app)
    add_message_batch_routes(app)
    add_control_routes(app)
    return app


def make_runner(app: web.Application, *, shutdown_timeout: float = 5.0) -> web.AppRunner:
    """An `AppRunner` that cancels a handler when its client disconnects.

    Handler cancellation is what stops a stream (and a hang) the moment the client leaves.
    """
    return web.AppRunner(
        app,
        handler_cancellation=True,
        shutdown_timeout=shutdown_timeout,
        access_log=None,
    )


async def serve_simulator(host: str, port: int, config: SimConfig) -> None:
    """Serve the simulator on ``host:port`` until cancelled, then shut down cleanly."""
    runner = make_runner(create_sim_app(config))
    await runner.setup()
    try:
        site = web.TCPSite(runner, host, port)
        await site.start()
        logger.info("upstream simulator listening on http://%s:%d", host, port)
        await anyio.sleep_forever()
    finally:
        with anyio.CancelScope(shield=True):
            await runner.cleanup()
