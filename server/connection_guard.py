"""`GuardedHttpToolsProtocol`: uvicorn's httptools protocol with a header read timeout and a cap
on concurrent connections per client address.

Uvicorn (httptools) starts no timer while a request's line and headers arrive, nor on a fresh
connection that sends nothing, so a client dripping its headers holds a connection for as long
as it likes. No request exists yet at that point, so the app cannot see it: the protocol is the
only layer that can. The body has its own deadline in the app (`server.routes.body`); a body
the app never read (it answered first) is not waited for: the connection closes after the
answer, instead of letting the drip go on. It closes gently ("lingering close", as nginx does):
the answer and a FIN go out, and whatever the client still sends is read and dropped for up to
`LINGER_S` (or `LINGER_BYTES`). Closing at once with unread bytes arriving would make the kernel
reset the connection, and a reset throws away the answer the client has not read yet.
"""

from __future__ import annotations

import asyncio
import functools
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

log = logging.getLogger("frugal.connections")

RETRY_AFTER_S = 1
LINGER_S = 2.0
LINGER_BYTES = 1 << 20


@dataclass
class ConnectionGuard:
    """The limits of one server process and its open connections per client address.

    ``header_timeout_s``: the request line and headers must arrive within this many seconds of
    the connection opening (or, on a kept-alive connection, of the next request's first byte).
    ``max_per_client``: open connections per client address (None: no cap).
    """

    header_timeout_s: float
    max_per_client: int | None = None
    open_by_client: dict[str, int] = field(default_factory=dict)
    header_timeouts: int = 0
    refused: int = 0

    def admit(self, client: str) -> bool:
        """Count a new connection from ``client``; False (and nothing counted) over the cap."""
        count = self.open_by_client.get(client, 0)
        if self.max_per_client is not None and count >= self.max_per_client:
            self.refused += 1
            return False
        self.open_by_client[client] = count + 1
        return True

    def release(self, client: str) -> None:
        """Forget one connection of ``client`` (admitted before)."""
        count = self.open_by_client.get(client, 0) - 1
        if count > 0:
            self.open_by_client[client] = count
        else:
            self.open_by_client.pop(client, None)


def guarded_protocol(guard: ConnectionGuard) -> Callable[..., asyncio.Protocol]:
    """What to pass as uvicorn's ``http``: a protocol factory bound to ``guard`` (a partial of
    a module-level class, so it pickles into ``--workers`` processes, each with its own counts)."""
    return functools.partial(GuardedHttpToolsProtocol, guard=guard)


class GuardedHttpToolsProtocol(HttpToolsProtocol):
    """`HttpToolsProtocol` enforcing a `ConnectionGuard` (see the module)."""

    def __init__(self, *args: Any, guard: ConnectionGuard, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._guard = guard
        self._counted_as: str | None = None
        self._header_timer: asyncio.TimerHandle | None = None
        self._message_complete = True
        self._linger_timer: asyncio.TimerHandle | None = None
        self._lingered: int | None = None  # bytes dropped while lingering; None: not lingering

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        client = self.client[0] if self.client else "unknown"
        if not self._guard.admit(client):
            log.info(
                "refused a connection: %s already has %s open",
                client,
                self._guard.max_per_client,
                extra={"event": "connection_refused", "client_address": client},
            )
            self._answer_and_close(
                429, "rate_limited", "too many open connections from this address"
            )
            return
        self._counted_as = client
        self._arm_header_timer()

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_header_timer()
        if self._linger_timer is not None:
            self._linger_timer.cancel()
            self._linger_timer = None
        if self._counted_as is not None:
            self._guard.release(self._counted_as)
            self._counted_as = None
        super().connection_lost(exc)

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._message_complete = False
        if self._header_timer is None:  # a kept-alive connection's next request
            self._arm_header_timer()

    def on_headers_complete(self) -> None:
        self._cancel_header_timer()
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        self._message_complete = True
        super().on_message_complete()

    def data_received(self, data: bytes) -> None:
        if self._lingered is None:
            super().data_received(data)
            return
        self._lingered += len(data)  # the rest of a body nobody reads: dropped
        if self._lingered > LINGER_BYTES:
            self.transport.close()

    def on_response_complete(self) -> None:
        # Answered before the body was all in (a refusal, or a route that reads no body):
        # close rather than keep reading a body nobody wants, which a drip could make endless.
        if not self._message_complete and not self.transport.is_closing():
            self._close_lingering()
        super().on_response_complete()

    def _close_lingering(self) -> None:
        self._cancel_header_timer()
        if not self.transport.can_write_eof():
            self.transport.close()
            return
        self._lingered = 0
        self.transport.write_eof()  # after the answer still buffered
        self._linger_timer = self.loop.call_later(LINGER_S, self.transport.close)

    def _arm_header_timer(self) -> None:
        self._header_timer = self.loop.call_later(
            self._guard.header_timeout_s, self._headers_timed_out
        )

    def _cancel_header_timer(self) -> None:
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None

    def _headers_timed_out(self) -> None:
        self._header_timer = None
        if self.transport.is_closing():
            return
        self._guard.header_timeouts += 1
        client = self.client[0] if self.client else "unknown"
        log.info(
            "closed a connection whose request headers took over %g s",
            self._guard.header_timeout_s,
            extra={"event": "header_timeout", "client_address": client},
        )
        if self.cycle is None or self.cycle.response_complete:
            limit = self._guard.header_timeout_s
            message = f"the request headers did not arrive within {limit:g} s"
            self._answer_and_close(408, "request_timeout", message)
        else:  # an answer to an earlier pipelined request is still being written
            self.transport.close()

    def _answer_and_close(self, status: int, code: str, message: str) -> None:
        body = json.dumps({"error": {"code": code, "message": message}}).encode()
        reason = {408: b"Request Timeout", 429: b"Too Many Requests"}[status]
        head = [
            b"HTTP/1.1 %d %s\r\n" % (status, reason),
            b"content-type: application/json\r\n",
            b"content-length: %d\r\n" % len(body),
            b"connection: close\r\n",
        ]
        if status == 429:
            head.append(b"retry-after: %d\r\n" % RETRY_AFTER_S)
        self.transport.write(b"".join(head) + b"\r\n" + body)
        self.transport.close()
