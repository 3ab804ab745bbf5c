"""Graceful drain on SIGTERM, and the in-flight request gauge an autoscaler reads.

Liveness (``/healthz``) answers "is the process serving HTTP" (an orchestrator restarts it when
not); readiness (``/readyz``) answers "send traffic here". On SIGTERM `DrainingServer` first
turns readiness off and keeps serving for ``drain_notice_s`` (the time a load balancer needs to
see the failing probe and stop sending), then closes its listener and gives the requests in
flight, streams included, ``drain_grace_s`` to finish; whatever still runs then is cancelled
and the process exits. The notice period is skipped when nothing ever asked ``/readyz``: no
balancer routes by it, so waiting would only delay the exit. A second SIGTERM, or SIGINT, stops
at once (uvicorn's own handling).

`DrainMiddleware` counts the requests in flight (probes and scrapes excluded) for
``frugal_http_requests_in_flight``: an LLM gateway spends its time waiting on providers, so
CPU is the wrong autoscaling signal and concurrent requests the right one.
"""

from __future__ import annotations

import logging
import signal
import time
from types import FrameType
from typing import Final

import uvicorn
from starlette.types import ASGIApp, Message, Receive, Scope, Send

log = logging.getLogger("frugal.server")

READINESS_PATH: Final = "/readyz"
# Probes and scrapes are not load: counting them would keep an idle fleet scaled up.
_NOT_COUNTED: Final = frozenset({"/healthz", READINESS_PATH, "/metrics"})


class Drain:
    """One process's drain state: draining or not, whether readiness was ever probed, and
    the requests in flight."""

    def __init__(self) -> None:
        self.draining = False
        self.readiness_probed = False
        self.in_flight = 0

    def begin(self) -> None:
        """Turn readiness off (idempotent)."""
        self.draining = True

    def render_metrics(self) -> bytes:
        """This process's gauges in Prometheus' text format (appended to ``/metrics``)."""
        lines = [
            "# HELP frugal_http_requests_in_flight HTTP requests being served by this process "
            "(probes and scrapes excluded).",
            "# TYPE frugal_http_requests_in_flight gauge",
            f"frugal_http_requests_in_flight {self.in_flight}",
            "# HELP frugal_draining 1 while this process drains after SIGTERM (readiness off).",
            "# TYPE frugal_draining gauge",
            f"frugal_draining {int(self.draining)}",
        ]
        return ("\n".join(lines) + "\n").encode()


class DrainMiddleware:
    """Pure ASGI middleware: counts requests in flight, notes readiness probes, and asks
    clients to close their connection while the process drains (their next request then
    opens a new one, which the balancer sends to another replica)."""

    def __init__(self, app: ASGIApp, drain: Drain) -> None:
        self.app = app
        self.drain = drain

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = scope["path"]
        if path == READINESS_PATH:
            self.drain.readiness_probed = True
        if path in _NOT_COUNTED:
            await self.app(scope, receive, send)
            return
        drain = self.drain

        async def send_closing(message: Message) -> None:
            if drain.draining and message["type"] == "http.response.start":
                headers = [(k, v) for k, v in message.get("headers", []) if k != b"connection"]
                message = {**message, "headers": [*headers, (b"connection", b"close")]}
            await send(message)

        drain.in_flight += 1
        try:
            await self.app(scope, receive, send_closing)
        finally:
            drain.in_flight -= 1


class DrainingServer(uvicorn.Server):
    """`uvicorn.Server` whose first SIGTERM drains (see the module docstring); the grace
    period is uvicorn's ``timeout_graceful_shutdown``."""

    def __init__(self, config: uvicorn.Config, drain: Drain, *, notice_s: float) -> None:
        super().__init__(config)
        self._drain = drain
        self._notice_s = notice_s
        self._notice_ends: float | None = None

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        if sig != signal.SIGTERM or self._drain.draining:
            super().handle_exit(sig, frame)
            return
        # A signal handler: only flags here; `on_tick` (every 0.1 s) acts on them.
        self._drain.begin()
        notice = self._notice_s if self._drain.readiness_probed else 0.0
        self._notice_ends = time.monotonic() + notice

    async def on_tick(self, counter: int) -> bool:
        ends = self._notice_ends
        if ends is not None and not self.should_exit:
            if counter % 10 == 0 or time.monotonic() >= ends:
                log.info(
                    "draining: readiness off, %d request(s) in flight, listener closes in %.1f s",
                    self._drain.in_flight,
                    max(0.0, ends - time.monotonic()),
                )
            if time.monotonic() >= ends:
                self.should_exit = True
        return await super().on_tick(counter)
