"""``POST /v1/messages``: the Anthropic Messages wire, through the same core as chat
completions.

The caller's body travels whole (`agent.core.decode_messages_request`). An Anthropic model
receives it as sent and its answer comes back as Anthropic sent it: the JSON message byte
for byte, the stream event by event (``message_start`` … ``ping`` … ``message_stop``). Any
other answer (an OpenAI-compatible model, the simulated one, a cache hit) is in OpenAI's
shape inside the core and is translated here (`agent.anthropic_translate`). Frugal's own
information rides in ``x-frugal-*`` headers and, on streams, a final ``: frugal`` comment
(every SSE client skips comments); errors answer in Anthropic's shape (the app's handler
and `server.anthropic_errors`), a stream that breaks ends with an ``error`` event.
"""

from __future__ import annotations

from typing import Final

import msgspec
from starlette.requests import Request
from starlette.responses import Response

from agent.anthropic_translate import EventTranslator, openai_to_anthropic_message
from agent.core import Piece, Tail, decode_messages_request
from agent.core.events import Head
from server.anthropic_errors import error_event
from server.auth import Caller
from server.routes.admission import accounted
from server.routes.wire_run import WireRun, read_wire, tail_headers
from server.state import AppState

ENDPOINT: Final = "messages"
_encoder: Final = msgspec.json.Encoder()


@accounted(ENDPOINT)
async def create_message(
    state: AppState, request: Request, caller: Caller, started: float
) -> Response:
    """Answer one Messages request, whole or as a server-sent event stream."""
    raw, cache = await read_wire(state, request)
    wire = decode_messages_request(
        raw, tenant=caller.tenant, cache=cache, headers=dict(request.headers)
    )
    run = await WireRun.start(state, ENDPOINT, caller, started, wire)
    if wire.stream:
        return run.stream(MessageFrames(run.head))
    tail = await run.whole()
    body = tail.native or _encoder.encode(
        openai_to_anthropic_message(tail.completion, message_id=message_id(run.head))
    )
    return Response(
        body, media_type="application/json", headers={**run.headers, **tail_headers(tail)}
    )


def message_id(head: Head) -> str:
    """The ``id`` of a message Frugal writes (translated or replayed)."""
    return f"msg_{head.request_id}"


def _frame(name: str, data: bytes) -> bytes:
    return b"event: " + name.encode() + b"\ndata: " + data + b"\n\n"


class MessageFrames:
    """The caller's event stream for the core's pieces: a provider's own Anthropic events
    as they came, anything else translated from OpenAI chunks."""

    done = b""

    def __init__(self, head: Head) -> None:
        self._translator = EventTranslator(message_id=message_id(head), model=head.model)
        self._native = False

    def piece(self, piece: Piece) -> bytes:
        if piece.native is not None:
            self._native = True
            name, data = piece.native
            return _frame(name, data)
        return b"".join(
            _frame(n, _encoder.encode(d)) for n, d in self._translator.feed(piece.chunk)
        )

    def failed(self, exc: Exception) -> bytes:
        return error_event(exc)

    async def ending(self, tail: Tail | None) -> bytes:
        if self._native:
            return b""  # the provider's own message_stop went out already
        return b"".join(_frame(n, _encoder.encode(d)) for n, d in self._translator.finish())
