"""Runs the real gateway app on uvicorn, on a free loopback port, inside the test's event loop."""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING

import anyio
import uvicorn

from server.app import create_app
from server.cli import uvicorn_limits
from server.settings import Settings

if TYPE_CHECKING:
    from opentelemetry.sdk.trace.export import SpanExporter


@dataclass(frozen=True)
class RunningGateway:
    base_url: str
    settings: Settings


@asynccontextmanager
async def run_gateway(
    settings: Settings, *, span_exporter: SpanExporter | None = None
) -> AsyncIterator[RunningGateway]:
    # Bound here and handed to uvicorn, so no other process can take the port in between.
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    try:
        config = uvicorn.Config(
            create_app(settings, span_exporter=span_exporter),
            host="127.0.0.1",
            port=port,
            log_level="warning",
            access_log=False,
            lifespan="on",
            **uvicorn_limits(settings.server),  # type: ignore[arg-type]
        )
        server = uvicorn.Server(config)
        async with anyio.create_task_group() as group:
            group.start_soon(server.serve, [sock])
            # Generous: several xdist workers may be loading MiniLM at once on a busy machine.
            with anyio.fail_after(60):
                while not server.started:
                    await anyio.sleep(0.01)
            try:
                yield RunningGateway(f"http://127.0.0.1:{port}", settings)
            finally:
                server.should_exit = True
    finally:
        sock.close()  # uvicorn closes it when it served; not when start-up failed
