"""`RelayResponse`: a streamed response that cannot be held open by a client that stopped
reading, and that always runs its closing step.

A send that waits longer than `SEND_TIMEOUT_S` (the client's socket buffer stayed full)
drops the client; however the response ends (done, client gone, that timeout, or a body
that never started because the connection died first), ``on_close`` runs, so the provider
call is closed and the request accounted.
"""

from __future__ import annotations

import logging
import math
from collections.abc import AsyncIterable, Awaitable, Callable, Mapping

import anyio
from starlette.responses import StreamingResponse
from starlette.types import Message, Receive, Scope, Send

log = logging.getLogger("frugal.server")

# A client that reads nothing for this long is dropped; healthy clients read continuously.
SEND_TIMEOUT_S = 30.0
# Closing the provider call and recording the request: bounded, shielded.
CLOSE_GRACE_S = 5.0


class RelayResponse(StreamingResponse):
    """A `StreamingResponse` with a send timeout and a closing step (see the module)."""

    def __init__(
        self,
        content: AsyncIterable[bytes],
        *,
        on_close: Callable[[], Awaitable[None]],
        media_type: str,
        headers: Mapping[str, str],
        send_timeout_s: float = SEND_TIMEOUT_S,
    ) -> None:
        super().__init__(content, media_type=media_type, headers=headers)
        self._on_close = on_close
        self._send_timeout_s = send_timeout_s

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        # One scope for the whole response whose deadline is armed only while a send waits
        # (cheaper than a scope per send; between sends the provider may take its time).
        with anyio.CancelScope() as watchdog:

            async def send_in_time(message: Message) -> None:
                watchdog.deadline = anyio.current_time() + self._send_timeout_s
                try:
                    await send(message)
                finally:
                    watchdog.deadline = math.inf

            try:
                await super().__call__(scope, receive, send_in_time)
            finally:
                await self._on_close()
        if watchdog.cancelled_caught:
            log.warning("a client stopped reading a stream for %gs; dropped", self._send_timeout_s)
