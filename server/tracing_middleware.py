"""`TracingMiddleware`: one server span per HTTP request, continuing the caller's trace.

A pure ASGI middleware (it wraps the whole exchange, streamed bodies included), so the span
ends when the last byte of an SSE stream is sent, and every span the request opens below it
(admission, caches, routing, provider attempts, tools) is its child.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from agent.tracing import Tracer, request_span


class TracingMiddleware:
    """Traces each HTTP request of ``app`` with ``tracer``."""

    def __init__(self, app: ASGIApp, *, tracer: Tracer) -> None:
        self._app = app
        self._tracer = tracer

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self._app(scope, receive, send)
            return
        headers = {
            name.decode("latin-1"): value.decode("latin-1") for name, value in scope["headers"]
        }
        method, path = scope["method"], scope["path"]
        attributes = {"http.request.method": method, "url.path": path}
        with request_span(self._tracer, method, headers, attributes) as root:

            async def traced_send(message: Message) -> None:
                if message["type"] == "http.response.start":
                    status = int(message["status"])
                    # Name the span by its route template, not the path (which holds ids).
                    template = getattr(scope.get("route"), "path", None)
                    if isinstance(template, str):
                        root.rename(f"{method} {template}")
                        root.set_attribute("http.route", template)
                    root.set_attribute("http.response.status_code", status)
                    if status >= 500:
                        root.set_attribute("error.type", str(status))
                await send(message)

            await self._app(scope, receive, traced_send)
