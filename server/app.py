"""The Starlette application factory and its lifespan.

`create_app(settings)` builds everything; nothing happens at import time. The lifespan opens
the shared aiohttp session and closes it on shutdown.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator, Callable
from typing import TYPE_CHECKING

import anyio
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.routing import Mount, Route

from agent.http import create_http_session
from server.async_library import asyncio_declared
from server.batch_lane import open_batch_lane
from server.composition import build_components
from server.config import load_settings, metrics_multiprocess_dir
from server.drain import Drain, DrainMiddleware
from server.error_handlers import install_error_handlers
from server.logging_setup import configure_logging
from server.openapi import endpoints as docs
from server.process_tuning import freeze_startup_objects, tune_process
from server.routes import (
    admin,
    admin_kb,
    admin_semantic,
    batches,
    chat,
    chat_completions,
    count_tokens,
    embeddings,
    feedback,
    files,
    health,
    message_batches,
    messages,
    openai_compat,
    page,
    responses,
    responses_stored,
    session,
    stats,
    stats_history,
    stream,
)
from server.settings import Settings
from server.state import AppState
from server.tracing_middleware import TracingMiddleware
from server.tracing_setup import build_tracing

if TYPE_CHECKING:
    from opentelemetry.sdk.trace.export import SpanExporter

log = logging.getLogger("frugal.server")


def create_app(
    settings: Settings,
    *,
    metrics_dir: str | None = None,
    on_ready: Callable[[], None] | None = None,
    span_exporter: SpanExporter | None = None,
    drain: Drain | None = None,
) -> Starlette:
    """Build the HTTP app for ``settings``; resources open in the lifespan. ``metrics_dir``
    is the shared Prometheus directory when several worker processes serve the app;
    ``on_ready`` runs once start-up is done (`frugal serve` freezes start-up objects there);
    ``span_exporter`` replaces the OTLP exporter when tracing is on (tests);
    ``drain`` is the drain state `frugal serve`'s SIGTERM handling shares with ``/readyz``."""

    drain = drain or Drain()
    tracing = build_tracing(settings.tracing, exporter=span_exporter)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        p = settings.providers
        with asyncio_declared():
            async with (
                create_http_session(
                    pool_size=p.pool_size, connect_timeout_s=p.connect_timeout_s
                ) as session,
                build_components(settings, session, metrics_dir=metrics_dir) as components,
                open_batch_lane(settings, components, session) as batch,
            ):
                app.state.frugal = AppState(
                    settings=settings, components=components, session=session, batch=batch
                )
                mode = (
                    "SIMULATED provider" if settings.uses_simulated_provider else "real providers"
                )
                log.info(
                    "frugal ready on http://%s:%s (%s)",
                    settings.server.host,
                    settings.server.port,
                    mode,
                )
                if on_ready is not None:
                    on_ready()
                try:
                    yield
                finally:
                    if tracing is not None:  # flushing exports over HTTP: off the loop
                        await anyio.to_thread.run_sync(tracing.shutdown)

    app = Starlette(
        routes=[
            Route("/", page.index, methods=["GET"]),
            Route("/chat", chat.post_chat, methods=["POST"]),
            Route("/chat/stream", stream.chat_stream, methods=["GET"]),
            Route("/chat/feedback", feedback.post_feedback, methods=["POST"]),
            Route("/v1/chat/completions", chat_completions.chat_completions, methods=["POST"]),
            Route("/v1/messages", messages.create_message, methods=["POST"]),
            Route("/v1/messages/count_tokens", count_tokens.count_tokens, methods=["POST"]),
            Route("/v1/embeddings", embeddings.create_embeddings, methods=["POST"]),
            Route("/v1/responses", responses.create_response, methods=["POST"]),
            Route(
                "/v1/responses/{response_id}",
                responses_stored.retrieve_response,
                methods=["GET"],
            ),
            Route(
                "/v1/responses/{response_id}",
                responses_stored.delete_response,
                methods=["DELETE"],
            ),
            Route(
                "/v1/responses/{response_id}/input_items",
                responses_stored.list_input_items,
                methods=["GET"],
            ),
            Route("/v1/models", openai_compat.list_models, methods=["GET"]),
            Route("/v1/files", files.create_file, methods=["POST"]),
            Route("/v1/files/{file_id}", files.retrieve_file, methods=["GET"]),
            Route("/v1/files/{file_id}/content", files.file_content, methods=["GET"]),
            Route("/v1/batches", batches.create_batch, methods=["POST"]),
            Route("/v1/batches", batches.list_batches, methods=["GET"]),
            Route("/v1/batches/{batch_id}", batches.retrieve_batch, methods=["GET"]),
            Route("/v1/batches/{batch_id}/cancel", batches.cancel_batch, methods=["POST"]),
            Route("/v1/messages/batches", message_batches.create, methods=["POST"]),
            Route("/v1/messages/batches", message_batches.list_batches, methods=["GET"]),
            Route("/v1/messages/batches/{batch_id}", message_batches.retrieve, methods=["GET"]),
            Route(
                "/v1/messages/batches/{batch_id}/cancel", message_batches.cancel, methods=["POST"]
            ),
            Route(
                "/v1/messages/batches/{batch_id}/results", message_batches.results, methods=["GET"]
            ),
            Route("/v1/models/{model:path}", openai_compat.get_model, methods=["GET"]),
            Route("/auth/session", session.sign_in, methods=["POST"]),
            Route("/auth/session", session.current, methods=["GET"]),
            Route("/auth/session", session.sign_out, methods=["DELETE"]),
            Route("/dashboard", page.dashboard, methods=["GET"]),
            Route("/stats", stats.get_stats, methods=["GET"]),
            Route("/stats/history", stats_history.get_history, methods=["GET"]),
            Route("/metrics", stats.get_metrics, methods=["GET"]),
            Route("/healthz", health.healthz, methods=["GET"]),
            Route("/readyz", health.readyz, methods=["GET"]),
            Route("/openapi.json", docs.openapi_json, methods=["GET"]),
            Route("/docs", docs.docs, methods=["GET"]),
            Route("/admin/cache/invalidate", admin.invalidate, methods=["POST"]),
            Route("/admin/cache/semantic", admin_semantic.list_semantic, methods=["GET"]),
            Route("/admin/kb/{name}/ingest", admin_kb.ingest, methods=["POST"]),
            Route("/admin/kb/{name}/reload", admin_kb.reload, methods=["POST"]),
            Route("/admin/kb/{name}/delete", admin_kb.delete, methods=["POST"]),
            Mount("/static", app=page.PageAssets(), name="static"),
        ],
        lifespan=lifespan,
        middleware=[Middleware(DrainMiddleware, drain=drain)]
        + ([] if tracing is None else [Middleware(TracingMiddleware, tracer=tracing.tracer)]),
    )
    app.state.drain = drain
    install_error_handlers(app)
    return app


def app_from_environment() -> Starlette:
    """The app factory of ``frugal serve --workers N``: each worker process builds its own
    app from the environment (settings were already validated by the parent)."""
    settings = load_settings()
    configure_logging(settings.server.log_level)
    tune_process()
    return create_app(
        settings, metrics_dir=metrics_multiprocess_dir(), on_ready=freeze_startup_objects
    )
