"""What every simulated endpoint does before answering: knobs, auth, and injected faults.

Faults that replace the whole response (401, 429, 500, context_length, prefill_refused,
hang, and stall on a JSON request) are served here; slow_first_token slows the knobs; the
ones that corrupt a response in flight (disconnect, malformed, malformed_chunk, no_done,
stall) are handed back.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TypeVar

import anyio
import msgspec
from aiohttp import web

from simulator.answer import Pace
from simulator.config import KnobError, RequestKnobs, knobs_for
from simulator.errors import Flavour, context_length_message, error_response
from simulator.faults import applicable, peek
from simulator.state import SimState

T = TypeVar("T")

INVALID_KEY = "invalid"
# Sent in place of a JSON body by the "malformed" fault: cut off mid-object.
MALFORMED_JSON = b'{"id": "sim-malformed", "choices": [{"index": 0, "mess'
# The prompt size a forced context_length fault reports (over either provider's window).
FORCED_PROMPT_TOKENS = 250_000


@dataclass(frozen=True)
class Admission:
    """The request may proceed with these knobs; ``fault`` is one served in flight or None."""

    knobs: RequestKnobs
    fault: str | None


def presented_key(request: web.Request) -> str | None:
    """The API key from ``x-api-key`` or ``Authorization: Bearer``, if any."""
    key = request.headers.get("x-api-key")
    if key:
        return key
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() == "bearer" and token.strip():
        return token.strip()
    return None


async def admit(
    request: web.Request, state: SimState, flavour: Flavour
) -> Admission | web.Response:
    """Either an `Admission` or the response to send instead (error or injected fault).

    A ``hang`` fault (and ``stall`` on a JSON request) never returns: it waits until the
    client goes away (and the handler is cancelled) or the server shuts down.
    """
    try:
        knobs = knobs_for(state.config, request.headers)
    except KnobError as exc:
        return error_response(flavour, "bad_request", str(exc))
    key = presented_key(request)
    if key is None or key == INVALID_KEY:
        message = "Missing API key." if key is None else "Incorrect API key provided: invalid."
        return error_response(flavour, "401", message)
    wanted = peek(await request.read())
    streaming = bool(wanted.stream)
    try:
        fault = applicable(state.pick_fault(request.headers, wanted.model), streaming)
    except ValueError as exc:
        return error_response(flavour, "bad_request", str(exc))
    if fault is not None:
        state.count_fault(fault)
    match fault:
        case "401":
            return error_response(flavour, "401", "Incorrect API key provided (simulated).")
        case "429":
            return error_response(flavour, "429", retry_after_s=state.config.retry_after_s)
        case "500":
            return error_response(flavour, "500")
        case "context_length":
            window = state.config.context_windows.get(wanted.model or "")
            tokens = max(FORCED_PROMPT_TOKENS, (window or 0) + 1)
            message = context_length_message(flavour, tokens, window)
            return error_response(flavour, "context_length", message)
        case "prefill_refused":
            return error_response(flavour, "prefill_refused")
        case "hang":
            await anyio.sleep_forever()
        case "stall" if not streaming:
            await anyio.sleep_forever()
        case "slow_first_token":
            pace = knobs.pace
            slower = Pace(pace.ttft_s + state.config.slow_ttft_ms / 1000.0, pace.tokens_per_s)
            knobs = replace(knobs, pace=slower)
    return Admission(knobs, fault)


def decode_body(request_body: bytes, kind: type[T], flavour: Flavour) -> T | web.Response:
    """The decoded request, or the provider's 400 for an invalid body."""
    try:
        return msgspec.json.decode(request_body, type=kind)
    except msgspec.DecodeError as exc:
        return error_response(flavour, "bad_request", f"Invalid request body: {exc}")


def cut_connection(request: web.Request) -> web.StreamResponse:
    """Drop the TCP connection without a (complete) response; returns a dummy to satisfy aiohttp."""
    if request.transport is not None:
        request.transport.close()
    return web.Response(status=204)


def malformed_json_response() -> web.Response:
    """A 200 whose JSON body is cut off mid-object."""
    return web.Response(body=MALFORMED_JSON, content_type="application/json")
