"""``POST /v1/chat/completions``: the OpenAI Chat Completions wire, through the core.

The caller's body reaches the provider unchanged (its exact bytes when the model is not
rerouted); answers come back as the provider sent them. Frugal's own information rides in
``x-frugal-*`` headers (and, on whole answers, a ``frugal`` object the SDKs keep as an extra
attribute). A stream relays the provider's chunks byte for byte. Errors are raised to the
app's one handler, which answers in OpenAI's shape.
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

from agent.core import (
    CompletionRequest,
    Flush,
    Head,
    Piece,
    RunOutcome,
    Tail,
    decode_completion_request,
)
from agent.core.events import CoreEvent
from agent.errors import ModelNotFound
from agent.tokens import count_message_tokens
from metrics.rate_limit import RateLimitExceeded, rate_limit_headers
from server.accounting import wire_record
from server.auth import Caller
from server.errors import APIError
from server.openai_errors import error_event
from server.pipeline_stream import log_outcome
from server.relay_response import CLOSE_GRACE_S, RelayResponse
from server.routes.admission import accounted, elapsed_ms
from server.routes.body import read_limited_body
from server.state import AppState

log = logging.getLogger("frugal.server")

ENDPOINT: Final = "chat_completions"
CACHE_HEADER: Final = "x-frugal-cache"
CACHE_MODES: Final = ("default", "no-cache", "no-store")
_DONE_LINE: Final = b"data: [DONE]\n\n"
_encoder: Final = msgspec.json.Encoder()


@accounted(ENDPOINT)
async def chat_completions(
    state: AppState, request: Request, caller: Caller, started: float
) -> Response:
    """Answer one chat completion, whole or as a server-sent event stream."""
    raw = await read_limited_body(
        request,
        state.settings.server.max_body_bytes,
        timeout_s=state.settings.server.body_read_timeout_s,
    )
    cache = request.headers.get(CACHE_HEADER, "default")
    if cache not in CACHE_MODES:
        raise APIError("bad_cache_mode", f"{CACHE_HEADER} must be one of {', '.join(CACHE_MODES)}")
    wire = decode_completion_request(raw, tenant=caller.tenant, cache=cache)
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
    body = {**tail.completion, "frugal": frugal_info(head, tail)}
    return Response(
        _encoder.encode(body),
        media_type="application/json",
        headers={**headers, **tail_headers(tail)},
    )


def check_model(state: AppState, model: str) -> None:
    """404 ``model_not_found`` for a model the registry does not serve."""
    registry = state.components.registry
    if registry.is_auto(model):
        return
    resolved = registry.resolve(model)
    if resolved.spec.kind != "chat":
        raise ModelNotFound(
            f"The model `{model[:100]}` is an embedding model, not a chat model.", model=model
        )


async def admit(state: AppState, caller: Caller, wire: CompletionRequest) -> dict[str, str]:
    """Count the request against the caller's inbound rate limit; the headers to send."""
    cost = state.components.cost
    limiter = cost.limiter
    if limiter is None:
        return {}
    tokens = 0
    if cost.rate_limits.tokens is not None:
        tokens = count_message_tokens(wire.messages, state.settings.models.cheap)
    decision = await limiter.check(caller.subject, tokens)
    if not decision.allowed:
        raise RateLimitExceeded(decision)
    return rate_limit_headers(decision)


def head_headers(head: Head) -> dict[str, str]:
    """What is known before the first byte: cache layer, model, route, request id, and on a
    stream whether a fallback model answers."""
    headers = {
        CACHE_HEADER: head.cache or "miss",
        "x-frugal-model": head.model,
        "x-frugal-route": head.tier,
        "x-frugal-request-id": head.request_id,
        "x-request-id": head.request_id,
    }
    if head.fallback_reason is not None:
        headers["x-frugal-fallback"] = f"{head.model}; reason={head.fallback_reason}"
    headers.update(head.headers)
    return headers


def tail_headers(tail: Tail) -> dict[str, str]:
    """What is known once the answer is complete: cost and fallback."""
    headers = {
        "x-frugal-cost-usd-micros": str(tail.cost_usd_micros),
        "x-frugal-model": tail.model,
    }
    if tail.used_fallback:
        headers["x-frugal-fallback"] = f"{tail.model}; reason={tail.fallback_reason or 'unknown'}"
    headers.update(tail.headers)
    return headers


def frugal_info(head: Head, tail: Tail) -> dict[str, Any]:
    """The ``frugal`` extension object: what the request cost and saved, and from where."""
    return {
        "cost_usd_micros": tail.cost_usd_micros,
        "cost_known": tail.cost_known,
        "saved_usd_micros": tail.saved_usd_micros,
        "cache": head.cache or "miss",
        "route": head.tier,
        "model": tail.model,
        "used_fallback": tail.used_fallback,
        "fallback_reason": tail.fallback_reason,
        "request_id": head.request_id,
    }


def failed_info(head: Head, outcome: RunOutcome) -> dict[str, Any]:
    """The ``frugal`` object of a stream that broke: what was billed for it."""
    return {
        "cost_usd_micros": outcome.cost_usd_micros,
        "cost_known": outcome.cost_known,
        "saved_usd_micros": 0,
        "cache": head.cache or "miss",
        "route": head.tier,
        "model": outcome.model or head.model,
        "used_fallback": head.fallback_reason is not None,
        "request_id": head.request_id,
        "error": outcome.error_code,
    }


def _frugal_comment(info: dict[str, Any]) -> bytes:
    # An SSE comment: every SSE client skips it, so the provider's stream stays as it was,
    # while a caller that wants the cost reads it here (headers left before it was known).
    return b": frugal " + _encoder.encode(info) + b"\n\n"


async def first_event(events: AsyncGenerator[CoreEvent, None]) -> Head:
    """The core's first event, its `Head` (the generator is closed if anything else came)."""
    try:
        head = await anext(events)
    except BaseException:
        await events.aclose()
        raise
    if not isinstance(head, Head):
        await events.aclose()
        raise RuntimeError(f"the core began with {type(head).__name__}, not Head")
    return head


async def drain(events: AsyncGenerator[CoreEvent, None]) -> Tail:
    """The `Tail` of a whole (non-streamed) run."""
    async for event in events:
        if isinstance(event, Tail):
            return event
    raise RuntimeError("the core ended without a Tail")


async def _relay(
    state: AppState,
    events: AsyncGenerator[CoreEvent, None],
    head: Head,
    outcome: RunOutcome,
    caller: Caller,
    started: float,
) -> AsyncGenerator[bytes, None]:
    # The provider's bytes go out as they came; the core reads usage and the end on the side.
    # Whatever ends the stream (done, provider failure, client gone), it is accounted once.
    tail: Tail | None = None
    try:
        async with aclosing(events):
            held: list[bytes] = []  # pieces of one upstream read, written out together
            try:
                async for event in events:
                    if isinstance(event, Piece):
                        held.append(b"data: " + (event.raw or _encoder.encode(event.chunk)))
                        if not event.more:
                            yield b"\n\n".join(held) + b"\n\n"
                            held.clear()
                    elif isinstance(event, Flush):
                        if held:
                            yield b"\n\n".join(held) + b"\n\n"
                            held.clear()
                    elif isinstance(event, Tail):
                        tail = event
            except Exception as exc:
                log.warning("stream %s failed: %s", head.request_id, exc)
                await _account(state, caller, head, outcome, None, started)
                if held:
                    yield b"\n\n".join(held) + b"\n\n"
                yield error_event(exc)
                yield _frugal_comment(failed_info(head, outcome))
                return
        await _account(state, caller, head, outcome, tail, started)
        ending = b"\n\n".join(held) + b"\n\n" if held else b""
        if tail is not None:
            ending += _frugal_comment(frugal_info(head, tail))
        yield ending + _DONE_LINE
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
    # However the response ended (done, client gone, a send that timed out, a body that
    # never started): the provider call is closed, the hold settled, the request recorded.
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
    log_outcome("chat.completions stream", head.request_id, outcome)
    record = wire_record(
        ENDPOINT, caller, head, outcome, tail, streamed=True, latency_ms=elapsed_ms(started)
    )
    await state.components.cost.accounting.finish(record, caller)
