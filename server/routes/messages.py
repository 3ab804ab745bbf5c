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

import logging
from collections.abc import AsyncGenerator
from contextlib import aclosing
from functools import partial
from typing import Any, Final

import anyio
import msgspec
from starlette.requests import Request
from starlette.responses import Response

from agent.anthropic_translate import EventTranslator, openai_to_anthropic_message
from agent.core import Flush, Piece, RunOutcome, Tail, decode_messages_request
from agent.core.events import CoreEvent, Head
from server.accounting import wire_record
from server.anthropic_errors import error_event
from server.auth import Caller
from server.errors import APIError
from server.pipeline_stream import log_outcome
from server.relay_response import CLOSE_GRACE_S, RelayResponse
from server.routes.admission import accounted, elapsed_ms
from server.routes.body import read_limited_body
from server.routes.chat_completions import (
    CACHE_HEADER,
    CACHE_MODES,
    admit,
    check_model,
    drain,
    failed_info,
    first_event,
    frugal_info,
    head_headers,
    tail_headers,
)
from server.state import AppState

log = logging.getLogger("frugal.server")

ENDPOINT: Final = "messages"
_encoder: Final = msgspec.json.Encoder()


@accounted(ENDPOINT)
async def create_message(
    state: AppState, request: Request, caller: Caller, started: float
) -> Response:
    """Answer one Messages request, whole or as a server-sent event stream."""
    raw = await read_limited_body(
        request,
        state.settings.server.max_body_bytes,
        timeout_s=state.settings.server.body_read_timeout_s,
    )
    cache = request.headers.get(CACHE_HEADER, "default")
    if cache not in CACHE_MODES:
        raise APIError("bad_cache_mode", f"{CACHE_HEADER} must be one of {', '.join(CACHE_MODES)}")
    wire = decode_messages_request(
        raw, tenant=caller.tenant, cache=cache, headers=dict(request.headers)
    )
    check_model(state, wire.model)
    limit_headers = await admit(state, caller, wire)
    outcome = RunOutcome()
    events = state.components.core.run(wire, outcome)
    head = await first_event(events)
    headers = {**limit_headers, **head_headers(head)}
    if wire.stream:
        return RelayResponse(
            _relay(state, events, head, outcome, caller, started),
            on_close=partial(_close, state, events, head, outcome, caller, started),
            media_type="text/event-stream",
            headers={**headers, "Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
        )
    async with aclosing(events):
        tail = await drain(events)
    await state.components.cost.accounting.finish(
        wire_record(
            ENDPOINT, caller, head, outcome, tail, streamed=False, latency_ms=elapsed_ms(started)
        ),
        caller,
    )
    body = tail.native or _encoder.encode(
        openai_to_anthropic_message(tail.completion, message_id=message_id(head))
    )
    return Response(body, media_type="application/json", headers={**headers, **tail_headers(tail)})


def message_id(head: Head) -> str:
    """The ``id`` of a message Frugal writes (translated or replayed)."""
    return f"msg_{head.request_id}"


def _frame(name: str, data: bytes) -> bytes:
    return b"event: " + name.encode() + b"\ndata: " + data + b"\n\n"


def _frugal_comment(info: dict[str, Any]) -> bytes:
    return b": frugal " + _encoder.encode(info) + b"\n\n"


class _Events:
    """The caller's event stream for the core's pieces: a provider's own Anthropic events
    as they came, anything else translated from OpenAI chunks."""

    def __init__(self, head: Head) -> None:
        self._translator = EventTranslator(message_id=message_id(head), model=head.model)
        self._native = False

    def piece(self, piece: Piece) -> list[bytes]:
        if piece.native is not None:
            self._native = True
            name, data = piece.native
            return [_frame(name, data)]
        return [_frame(n, _encoder.encode(d)) for n, d in self._translator.feed(piece.chunk)]

    def ending(self) -> list[bytes]:
        if self._native:
            return []  # the provider's own message_stop went out already
        return [_frame(n, _encoder.encode(d)) for n, d in self._translator.finish()]


async def _relay(
    state: AppState,
    events: AsyncGenerator[CoreEvent, None],
    head: Head,
    outcome: RunOutcome,
    caller: Caller,
    started: float,
) -> AsyncGenerator[bytes, None]:
    # Whatever ends the stream (done, provider failure, client gone), it is accounted once.
    tail: Tail | None = None
    out = _Events(head)
    try:
        async with aclosing(events):
            held: list[bytes] = []  # frames of one upstream read, written out together
            try:
                async for event in events:
                    if isinstance(event, Piece):
                        held += out.piece(event)
                        if not event.more and held:
                            yield b"".join(held)
                            held.clear()
                    elif isinstance(event, Flush):
                        if held:
                            yield b"".join(held)
                            held.clear()
                    elif isinstance(event, Tail):
                        tail = event
            except Exception as exc:
                log.warning("messages stream %s failed: %s", head.request_id, exc)
                await _account(state, caller, head, outcome, None, started)
                yield b"".join(held) + error_event(exc)
                yield _frugal_comment(failed_info(head, outcome))
                return
        await _account(state, caller, head, outcome, tail, started)
        ending = b"".join(held + out.ending())
        if tail is not None:
            ending += _frugal_comment(frugal_info(head, tail))
        yield ending
    finally:
        if outcome.status not in ("completed", "failed"):
            await _account(state, caller, head, outcome, tail, started)


async def _close(
    state: AppState,
    events: AsyncGenerator[CoreEvent, None],
    head: Head,
    outcome: RunOutcome,
    caller: Caller,
    started: float,
) -> None:
    # However the response ended, the provider call is closed, the hold settled, the
    # request recorded.
    with anyio.move_on_after(CLOSE_GRACE_S, shield=True):
        await events.aclose()
        await _account(state, caller, head, outcome, None, started)


async def _account(
    state: AppState,
    caller: Caller,
    head: Head,
    outcome: RunOutcome,
    tail: Tail | None,
    started: float,
) -> None:
    if outcome.accounted:
        return
    outcome.accounted = True
    log_outcome("messages stream", head.request_id, outcome)
    record = wire_record(
        ENDPOINT, caller, head, outcome, tail, streamed=True, latency_ms=elapsed_ms(started)
    )
    await state.components.cost.accounting.finish(record, caller)
