"""``POST /v1/chat/completions``: the OpenAI Chat Completions wire, through the core.

The caller's body reaches the provider unchanged (its exact bytes when the model is not
rerouted); answers come back as the provider sent them. Frugal's own information rides in
``x-frugal-*`` headers (and, on whole answers, a ``frugal`` object the SDKs keep as an extra
attribute). A stream relays the provider's chunks byte for byte. Errors are raised to the
app's one handler, which answers in OpenAI's shape.
"""

from __future__ import annotations

from typing import Final

import msgspec
from starlette.requests import Request
from starlette.responses import Response

from agent.core import Piece, Tail, decode_completion_request
from server.auth import Caller
from server.openai_errors import error_event
from server.routes.admission import accounted
from server.routes.wire_run import WireRun, frugal_info, read_wire, tail_headers
from server.state import AppState

ENDPOINT: Final = "chat_completions"
_encoder: Final = msgspec.json.Encoder()


@accounted(ENDPOINT)
async def chat_completions(
    state: AppState, request: Request, caller: Caller, started: float
) -> Response:
    """Answer one chat completion, whole or as a server-sent event stream."""
    raw, cache = await read_wire(state, request)
    wire = decode_completion_request(raw, tenant=caller.tenant, cache=cache)
    run = await WireRun.start(state, ENDPOINT, caller, started, wire)
    if wire.stream:
        return run.stream(ChunkFrames())
    tail = await run.whole()
    body = {**tail.completion, "frugal": frugal_info(run.head, tail)}
    return Response(
        _encoder.encode(body),
        media_type="application/json",
        headers={**run.headers, **tail_headers(tail)},
    )


class ChunkFrames:
    """Chat completion chunks as ``data:`` lines: the provider's bytes as they came (or the
    core's own chunk on a replay), ``[DONE]`` at the end."""

    done = b"data: [DONE]\n\n"

    def piece(self, piece: Piece) -> bytes:
        return b"data: " + (piece.raw or _encoder.encode(piece.chunk)) + b"\n\n"

    def failed(self, exc: Exception) -> bytes:
        return error_event(exc)

    async def ending(self, tail: Tail | None) -> bytes:
        return b""
