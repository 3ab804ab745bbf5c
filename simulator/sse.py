"""Server-sent events for the simulator: framing for both providers and the paced send loop."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TypeVar

import anyio
from aiohttp import web

from simulator.answer import Pace, paced
from simulator.state import StreamTracker

T = TypeVar("T")

OPENAI_DONE = b"data: [DONE]\n\n"
# How many pieces go out before a "disconnect" or "malformed" fault strikes.
FAULT_AFTER_PIECES = 3
# Faults that drop the connection: "disconnect" midway, "early_disconnect" before the first
# piece (right after the headers); either drops a JSON request outright.
CUT_FAULTS = frozenset({"disconnect", "early_disconnect"})
# A "malformed_chunk" fault's invalid line follows this many pieces.
GARBLE_AFTER_PIECES = 2


def data_line(payload: bytes) -> bytes:
    """OpenAI framing: one ``data:`` line per event."""
    return b"data: " + payload + b"\n\n"


def event_block(name: str, payload: bytes) -> bytes:
    """Anthropic framing: a named event followed by its data line."""
    return b"event: " + name.encode() + b"\n" + data_line(payload)


async def open_sse(request: web.Request) -> web.StreamResponse:
    """Send the 200 headers of an event stream."""
    response = web.StreamResponse(
        status=200,
        headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"},
    )
    await response.prepare(request)
    return response


async def send_pieces(
    request: web.Request,
    response: web.StreamResponse,
    pieces: Sequence[T],
    *,
    pace: Pace,
    tracker: StreamTracker,
    fault: str | None,
    frame: Callable[[T], bytes],
    garbage: bytes,
    tokens: Callable[[T], int] = lambda _: 1,
    stall_after: int = 3,
) -> bool:
    """Write each piece at ``pace``; False when a "disconnect" fault cut the connection.

    ``tokens`` says how many tokens a piece carries (one by default) for the stream's record.
    Faults in flight: "malformed" puts ``garbage`` before a piece midway; "malformed_chunk"
    puts it after the second piece and carries on; "stall" sends ``stall_after`` pieces
    and then nothing, holding the connection until the client leaves (never returns).

    A write to a closed socket raises (ConnectionResetError) and a vanished client cancels
    the handler; either way the exception leaves here and the tracker records a cancel.
    """
    strike_at = 0 if fault == "early_disconnect" else min(FAULT_AFTER_PIECES, len(pieces) // 2)
    garble_at = min(GARBLE_AFTER_PIECES, len(pieces)) if fault == "malformed_chunk" else -1
    stall_at = min(stall_after, len(pieces)) if fault == "stall" else -1
    await _after(0, garble_at, stall_at, response, garbage)
    index = 0
    async for piece in paced(pieces, pace):
        if index == strike_at and fault in CUT_FAULTS:
            tracker.abort()
            if request.transport is not None:
                request.transport.close()
            return False
        if index == strike_at and fault == "malformed":
            await response.write(garbage)
        await response.write(frame(piece))
        tracker.sent(tokens(piece))
        index += 1
        await _after(index, garble_at, stall_at, response, garbage)
    return True


async def _after(
    sent: int, garble_at: int, stall_at: int, response: web.StreamResponse, garbage: bytes
) -> None:
    # Once ``sent`` pieces are out: the malformed_chunk line, or the stall that never ends.
    if sent == garble_at:
        await response.write(garbage)
    if sent == stall_at:
        await anyio.sleep_forever()  # the client leaving cancels us: a cancelled stream
