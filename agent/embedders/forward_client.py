"""`ForwardClient`: one embedder's connection to the forward-pass helper process.

Requests go out over the helper's socket as they come (each with an id); a task of this
embedder's own task group reads the replies and wakes each waiting caller, so no thread and no
GIL handoff sits between the event loop and a vector. A broken connection fails its waiting
callers at once (`ForwardUnavailable`) and the next call connects again.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from types import TracebackType
from typing import Protocol, Self

import anyio
import anyio.abc
import numpy as np
import numpy.typing as npt
from anyio.streams.buffered import BufferedByteReceiveStream

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
_SEND_TIMEOUT_S = 10.0
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


class _Call:
    __slots__ = ("done", "error", "rows")

    def __init__(self) -> None:
        self.done = anyio.Event()
        self.rows: F32 | None = None
        self.error: BaseException | None = None


class _Connection:
    def __init__(self, stream: anyio.abc.SocketStream, dim: int, pid: int) -> None:
        self.stream = stream
        self.dim = dim
        self.pid = pid
        self.calls: dict[int, _Call] = {}
        self.send_lock = anyio.Lock()
        self.broken = False

    def fail(self, error: BaseException) -> None:
        self.broken = True
        calls, self.calls = self.calls, {}
        for call in calls.values():
            call.error = error
            call.done.set()


class ForwardClient:
    """Use as ``async with ForwardClient(helper) as client: await client.forward(ids)``."""

    def __init__(self, helper: Helper) -> None:
        self._helper = helper
        self._ids = itertools.count()
        self._connection: _Connection | None = None
        self._connect_lock = anyio.Lock()
        self._tg: anyio.abc.TaskGroup | None = None

    async def __aenter__(self) -> Self:
        self._tg = anyio.create_task_group()
        await self._tg.__aenter__()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> bool | None:
        assert self._tg is not None
        connection, self._connection = self._connection, None
        if connection is not None:
            connection.fail(ForwardUnavailable("the embedder is shutting down"))
        self._tg.cancel_scope.cancel()
        try:
            return await self._tg.__aexit__(exc_type, exc, tb)
        finally:
            self._tg = None
            if connection is not None:
                with anyio.CancelScope(shield=True):
                    await connection.stream.aclose()

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
        call = _Call()
        connection.calls[call_id] = call
        frame = encode_frame(ForwardRequest(call_id, list(ids)))
        try:
            await self._send(connection, frame)
            with anyio.move_on_after(_REPLY_TIMEOUT_S) as waited:
                await call.done.wait()
            if waited.cancelled_caught:
                # Its pid, not "the" helper: a new one may have started meanwhile.
                self._helper.stalled(connection.pid)
                connection.fail(ForwardUnavailable("the forward-pass helper stopped answering"))
        except (anyio.BrokenResourceError, anyio.ClosedResourceError, OSError) as exc:
            connection.fail(ForwardUnavailable(f"lost the forward-pass helper: {exc!r}"))
        finally:
            connection.calls.pop(call_id, None)  # cancelled: its reply is dropped
        if call.error is not None:
            raise call.error
        assert call.rows is not None
        return call.rows

    async def _send(self, connection: _Connection, frame: bytes) -> None:
        """Write one whole frame. A caller cancelled mid-write must not leave half a frame on
        the stream (every later frame would be garbage), so the write is shielded, for at most
        ``_SEND_TIMEOUT_S``; a helper that reads nothing that long loses the connection."""
        async with connection.send_lock:  # frames must not interleave
            with anyio.CancelScope(shield=True) as scope:
                scope.deadline = anyio.current_time() + _SEND_TIMEOUT_S
                await connection.stream.send(frame)
            if scope.cancelled_caught:
                connection.fail(ForwardUnavailable("the forward-pass helper stopped reading"))
                await connection.stream.aclose()
                raise ForwardUnavailable("the forward-pass helper stopped reading")

    async def _connected(self) -> _Connection:
        connection = self._connection
        if connection is not None and not connection.broken:
            return connection
        if self._tg is None:
            raise ForwardUnavailable("the embedder is not running")
        async with self._connect_lock:
            connection = self._connection
            if connection is not None and not connection.broken:
                return connection
            hello = self._helper.hello()
            try:
                stream = await anyio.connect_unix(hello.address)
                await stream.send(encode_frame(Auth(self._helper.token)))
            except OSError as exc:
                raise ForwardUnavailable(f"cannot reach the forward-pass helper: {exc}") from exc
            connection = _Connection(stream, hello.dim, hello.pid)
            self._connection = connection
            self._tg.start_soon(self._read_replies, connection)
            return connection

    async def _read_replies(self, connection: _Connection) -> None:
        received = BufferedByteReceiveStream(connection.stream)
        try:
            while True:
                head = await received.receive_exactly(LENGTH.size)
                reply = decode_body(await received.receive_exactly(body_length(head)))
                if isinstance(reply, ForwardReply):
                    self._settle(connection, reply)
        except (anyio.EndOfStream, anyio.IncompleteRead, anyio.BrokenResourceError,
                anyio.ClosedResourceError, FrameError, OSError) as exc:  # fmt: skip
            connection.fail(ForwardUnavailable(f"lost the forward-pass helper: {exc!r}"))
            await connection.stream.aclose()

    @staticmethod
    def _settle(connection: _Connection, reply: ForwardReply) -> None:
        call = connection.calls.pop(reply.id, None)
        if call is None:
            return  # its caller was cancelled
        if reply.error is not None:
            call.error = RuntimeError(reply.error)
        else:
            rows = np.frombuffer(reply.vectors, dtype="<f4").reshape(-1, connection.dim)
            call.rows = rows.copy()  # writable, like every other embedder's rows
        call.done.set()


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
