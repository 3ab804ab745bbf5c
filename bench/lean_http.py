"""A lean HTTP/1.1 closed-loop load generator for benchmarks against 127.0.0.1.

`lean_closed_loop` does what `bench.gateway_process.closed_loop` does without aiohttp, because
the load generator shares the CPU with the servers it measures: one keep-alive connection per
worker on asyncio's transport/protocol API, each request's bytes encoded once up front, and
responses run through httptools' C parser with no body, header or status-line callbacks, so a
response costs Python only the completion callback and the status code.
"""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import Mapping, Sequence
from typing import cast
from urllib.parse import urlsplit

import anyio
import httptools

from bench.gateway_process import Sample

REQUEST_TIMEOUT_S = 30.0
"""How long one request may wait for its full response before it counts as an error."""
LOOPBACK = "127.0.0.1"
_FAILED = 0  # stands in for the status of a request that got no complete response
_RESERVED = frozenset({"host", "content-length", "transfer-encoding"})


def encode_requests(url: str, bodies: Sequence[bytes], headers: Mapping[str, str]) -> list[bytes]:
    """One complete ``POST`` request (head and body) per body, for ``url`` on 127.0.0.1.

    Raises `ValueError` for a URL that is not ``http://127.0.0.1[:port]/...`` or for a header
    the client writes itself (Host, Content-Length, Transfer-Encoding).
    """
    port, path = _target(url)
    clashing = _RESERVED & {name.lower() for name in headers}
    if clashing:
        raise ValueError(f"headers set by the client itself: {sorted(clashing)}")
    lines = [f"POST {path} HTTP/1.1", f"Host: {LOOPBACK}:{port}"]
    lines += [f"{name}: {value}" for name, value in headers.items()]
    head = "\r\n".join(lines).encode("latin-1")
    return [b"%s\r\nContent-Length: %d\r\n\r\n%s" % (head, len(body), body) for body in bodies]


def _target(url: str) -> tuple[int, str]:
    parts = urlsplit(url)
    if parts.scheme != "http" or parts.hostname != LOOPBACK:
        raise ValueError(f"only http://{LOOPBACK} URLs are supported, not {url!r}")
    path = parts.path or "/"
    return parts.port or 80, f"{path}?{parts.query}" if parts.query else path


class _Connection(asyncio.Protocol):
    """One keep-alive connection carrying one request at a time.

    It is also the parser's callback object: defining only ``on_message_complete`` keeps
    httptools from building Python objects for the headers and body it skips over.
    """

    def __init__(self, loop: asyncio.AbstractEventLoop, timeout_s: float) -> None:
        self._loop = loop
        self._timeout_s = timeout_s
        self._parser = httptools.HttpResponseParser(self)
        self._transport: asyncio.Transport | None = None
        self._waiter: asyncio.Future[int] | None = None
        self._timer: asyncio.TimerHandle | None = None
        self.lost: asyncio.Future[None] = loop.create_future()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports are not asyncio.Transport subclasses, only alike.
        self._transport = cast(asyncio.Transport, transport)
        sock = self._transport.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    @property
    def usable(self) -> bool:
        """Whether the next request can go over this connection (the server has not closed it)."""
        return self._transport is not None and not self._transport.is_closing()

    def data_received(self, data: bytes) -> None:
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserError:
            self._finish(_FAILED)

    def on_message_complete(self) -> None:
        if not self._parser.should_keep_alive():
            self.close()
        self._finish(self._parser.get_status_code())

    def connection_lost(self, exc: Exception | None) -> None:
        self._finish(_FAILED)
        if not self.lost.done():
            self.lost.set_result(None)

    def _on_timeout(self) -> None:
        self._timer = None
        self._finish(_FAILED)

    def _finish(self, status: int) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        waiter, self._waiter = self._waiter, None
        if waiter is not None and not waiter.done():
            waiter.set_result(status)
        if status == _FAILED:
            # The stream is in an unknown state: never reuse it.
            self.close(abort=True)

    async def exchange(self, request: bytes) -> int:
        """Send ``request``; the response's status once it is fully read, else 0."""
        if self._transport is None:
            return _FAILED
        waiter: asyncio.Future[int] = self._loop.create_future()
        self._waiter = waiter
        self._timer = self._loop.call_later(self._timeout_s, self._on_timeout)
        self._transport.write(request)
        return await waiter

    def close(self, *, abort: bool = False) -> None:
        """Stop using the connection and close its socket (``abort`` drops unsent bytes)."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self._transport is not None and not self._transport.is_closing():
            if abort:
                self._transport.abort()
            else:
                self._transport.close()


async def _connect(port: int, timeout_s: float) -> _Connection | None:
    """A new connection to 127.0.0.1:``port``, or None when it cannot be opened in time."""
    loop = asyncio.get_running_loop()
    connection = _Connection(loop, timeout_s)
    try:
        with anyio.fail_after(timeout_s):
            await loop.create_connection(lambda: connection, LOOPBACK, port)
    except (OSError, TimeoutError):
        return None
    return connection


async def lean_closed_loop(
    url: str,
    bodies: Sequence[bytes],
    *,
    headers: Mapping[str, str],
    concurrency: int,
    duration_s: float,
    start: int = 0,
    request_timeout_s: float = REQUEST_TIMEOUT_S,
) -> Sample:
    """``concurrency`` workers post ``bodies`` round-robin (from index ``start``) to ``url``.

    Workers start new requests for ``duration_s``, each over its own keep-alive connection to
    127.0.0.1. A request counts in `Sample.latencies_ms` when it ends with status 200 and its
    body (Content-Length or chunked) fully read; anything else (another status, a connection
    refused or closed mid-request, a response not complete within ``request_timeout_s``)
    counts in `Sample.errors`. A connection the server closes is reopened for the next request
    (the reconnect is part of that request's latency). All sockets are closed on return.
    """
    if not bodies:
        raise ValueError("no request bodies")
    port = _target(url)[0]
    requests = encode_requests(url, bodies, headers)
    count = len(requests)
    sample = Sample()
    latencies = sample.latencies_ms
    last: list[_Connection] = []
    next_index = start
    started = time.perf_counter()
    deadline = started + duration_s

    async def worker() -> None:
        nonlocal next_index
        connection: _Connection | None = None
        try:
            while (sent := time.perf_counter()) < deadline:
                request = requests[next_index % count]
                next_index += 1
                if connection is None or not connection.usable:
                    connection = await _connect(port, request_timeout_s)
                status = _FAILED if connection is None else await connection.exchange(request)
                if status == 200:
                    latencies.append((time.perf_counter() - sent) * 1000)
                else:
                    sample.errors += 1
        finally:
            if connection is not None:
                connection.close()
                last.append(connection)

    async with anyio.create_task_group() as group:
        for _ in range(concurrency):
            group.start_soon(worker)
    sample.elapsed_s = time.perf_counter() - started
    with anyio.move_on_after(5):  # the sockets close on the loop's next turns
        for connection in last:
            await connection.lost
    return sample
