"""`ForwardClient`: one embedder's connection to the forward-pass helper process.

Requests go out over the helper's socket as they come, each with an id; the replies are parsed
where the event loop receives them and wake each waiting caller, so no thread and no GIL
handoff sits between the loop and a vector. A broken connection fails its waiting callers at
once (`ForwardUnavailable`) and the next call connects again.

This is the one place that uses asyncio's transport and protocol API instead of anyio streams:
on the miss path of every request, anyio's buffered stream reader, send lock and task cost
~150 us of the loop's time per call; the protocol, which writes whole frames at once and
parses replies in its callback, a fraction of that. The gateway runs on asyncio (uvloop).
"""

from __future__ import annotations

import asyncio
import itertools
import socket
from collections.abc import Sequence
from types import TracebackType
from typing import Protocol, Self, cast

import numpy as np
import numpy.typing as npt

from agent.embedders.forward_process import ForwardUnavailable
from agent.embedders.forward_wire import (
    LENGTH,
    Auth,
    ForwardReply,
    ForwardRequest,
    FrameError,
    Hello,
    body_length,
    decode_body,
    encode_frame,
)

F32 = npt.NDArray[np.float32]
# A request's reply, once sent: ~1.5 ms for a query, ~0.1 s for a full chunk, plus its place in
# the queue. Past this the helper is taken as hung and replaced.
_REPLY_TIMEOUT_S = 10.0
_CHUNK_TOKENS = 1024
_CHUNK_TEXTS = 64


class Helper(Protocol):
    """Where the helper listens and how to prove we may use it (`ForwardProcess` is one)."""

    @property
    def token(self) -> str: ...

    def hello(self) -> Hello:
        """The running helper's `Hello`; raises `ForwardUnavailable` while it is down."""
        ...

    def stalled(self, pid: int) -> None:
        """Helper *pid* left a request unanswered for ``_REPLY_TIMEOUT_S``: replace it."""
        ...


class _Connection(asyncio.Protocol):
    """One socket to the helper: writes request frames, settles each reply's future."""

    def __init__(self, hello: Hello) -> None:
        self.dim = hello.dim
        self.pid = hello.pid
        self.calls: dict[int, asyncio.Future[F32]] = {}
        self.transport: asyncio.Transport | None = None
        self.broken = False
        self._buffer = bytearray()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports are not asyncio.Transport subclasses, but have its methods.
        self.transport = cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        buffer = self._buffer
        buffer += data
        start = 0
        try:
            while len(buffer) - start >= LENGTH.size:
                end = start + LENGTH.size + body_length(buffer[start : start + LENGTH.size])
                if len(buffer) < end:
                    break
                reply = decode_body(bytes(buffer[start + LENGTH.size : end]))
                start = end
                if isinstance(reply, ForwardReply):
                    self._settle(reply)
        except FrameError as exc:
            self.fail(ForwardUnavailable(f"the forward-pass helper's reply broke: {exc}"))
            return
        del buffer[:start]

    def connection_lost(self, exc: Exception | None) -> None:
        self.fail(ForwardUnavailable(f"lost the forward-pass helper: {exc!r}"))

    def fail(self, error: BaseException) -> None:
        self.broken = True
        calls, self.calls = self.calls, {}
        for future in calls.values():
            if not future.done():
                future.set_exception(error)
        if self.transport is not None:
            self.transport.close()

    def _settle(self, reply: ForwardReply) -> None:
        future = self.calls.pop(reply.id, None)
        if future is None or future.done():
            return  # its caller was cancelled
        if reply.error is not None:
            future.set_exception(RuntimeError(reply.error))
            return
        rows = np.frombuffer(reply.vectors, dtype="<f4").reshape(-1, self.dim)
        future.set_result(rows.copy())  # writable, like every other embedder's rows


class ForwardClient:
    """Use as ``async with ForwardClient(helper) as client: await client.forward(ids)``."""

    def __init__(self, helper: Helper) -> None:
        self._helper = helper
        self._ids = itertools.count()
        self._connection: _Connection | None = None
        self._connecting: asyncio.Lock | None = None
        self._open = False

    async def __aenter__(self) -> Self:
        self._connecting = asyncio.Lock()
        self._open = True
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._open = False
        connection, self._connection = self._connection, None
        if connection is not None:
            connection.fail(ForwardUnavailable("the embedder is shutting down"))

    async def forward(self, ids: Sequence[list[int]]) -> F32:
        """``(len(ids), dim)`` unit rows for tokenised texts. Raises `ForwardUnavailable`, or
        `RuntimeError` with the helper's message if its pass failed.

        Bulk input (a knowledge base, ``/v1/embeddings``) goes as several requests of at most
        ``_CHUNK_TOKENS`` tokens, one after another: the helper answers a connection's requests
        in order, so a query waits behind one chunk (~0.1 s at most), never behind the bulk.
        """
        chunks = _chunks(ids)
        if len(chunks) == 1:
            return await self._request(ids)
        return np.concatenate([await self._request(ids[a:b]) for a, b in chunks])

    async def _request(self, ids: Sequence[list[int]]) -> F32:
        connection = await self._connected()
        call_id = next(self._ids)
        loop = asyncio.get_running_loop()
        future: asyncio.Future[F32] = loop.create_future()
        connection.calls[call_id] = future
        assert connection.transport is not None
        # One write of a whole frame: frames never interleave, and a cancelled caller leaves
        # no half frame behind (the transport sends what it was given).
        connection.transport.write(encode_frame(ForwardRequest(call_id, list(ids))))
        timer = loop.call_later(_REPLY_TIMEOUT_S, self._stalled, connection, future)
        try:
            return await future
        finally:
            timer.cancel()
            connection.calls.pop(call_id, None)  # cancelled: its reply is dropped

    def _stalled(self, connection: _Connection, future: asyncio.Future[F32]) -> None:
        if future.done():
            return
        # Its pid, not "the" helper: a new one may have started meanwhile.
        self._helper.stalled(connection.pid)
        connection.fail(ForwardUnavailable("the forward-pass helper stopped answering"))

    async def _connected(self) -> _Connection:
        connection = self._connection
        if connection is not None and not connection.broken:
            return connection
        if not self._open or self._connecting is None:
            raise ForwardUnavailable("the embedder is not running")
        async with self._connecting:
            connection = self._connection
            if connection is not None and not connection.broken:
                return connection
            hello = self._helper.hello()
            connection = _Connection(hello)
            try:
                # Connected here: uvloop refuses abstract addresses; a local connect is instant.
                sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                try:
                    sock.connect(hello.address)
                    sock.setblocking(False)
                    await asyncio.get_running_loop().create_unix_connection(
                        lambda: connection, sock=sock
                    )
                except BaseException:
                    sock.close()
                    raise
            except OSError as exc:
                raise ForwardUnavailable(f"cannot reach the forward-pass helper: {exc}") from exc
            assert connection.transport is not None
            connection.transport.write(encode_frame(Auth(self._helper.token)))
            self._connection = connection
            return connection


def _chunks(ids: Sequence[list[int]]) -> list[tuple[int, int]]:
    """``[start, stop)`` runs of *ids* of at most ``_CHUNK_TEXTS`` texts and ``_CHUNK_TOKENS``
    tokens (a longer text goes alone)."""
    runs: list[tuple[int, int]] = []
    start, tokens = 0, 0
    for i, text in enumerate(ids):
        if i > start and (i - start >= _CHUNK_TEXTS or tokens + len(text) > _CHUNK_TOKENS):
            runs.append((start, i))
            start, tokens = i, 0
        tokens += len(text)
    runs.append((start, len(ids)))
    return runs
