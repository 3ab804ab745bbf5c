"""``POST /v1/responses``: the OpenAI Responses API, as a thin adapter over the core.

The Responses request is translated to a chat completions body
(`agent.responses_translate`), with the stored conversation of ``previous_response_id``
placed before its input, and run through the same core as ``/v1/chat/completions``: caches,
routing (``auto`` and aliases), fallback, budgets, rate limits and micro-USD accounting apply
unchanged, and an Anthropic model is reached through the existing translation. The answer
comes back as a Response object, or as Responses stream events each with its
``sequence_number``. With ``store`` (the default, as in OpenAI) the response and its input
items are kept per tenant in the configured store (`cache.response_store`).

Caching: the translation is deterministic, so a Responses request and a chat completion whose
translated chat bodies are identical share one exact-cache key. That is safe because the key
covers everything that reaches the provider (the whole chat body, model and tenant) and the
Response is rebuilt from the cached chat completion on every read (fresh ids, this request's
echoed parameters), exactly as that completion would have been translated on a miss.
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncGenerator, Awaitable, Callable
from contextlib import aclosing
from functools import partial
from typing import Any, Final

import anyio
import msgspec
from starlette.requests import Request
from starlette.responses import Response

from agent.core import (
    Flush,
    Head,
    InvalidParam,
    Piece,
    RunOutcome,
    Tail,
    decode_completion_request,
)
from agent.core.events import CoreEvent
from agent.responses_translate import (
    ResponseContext,
    ResponseEvents,
    chat_to_response,
    echo_of,
    responses_to_chat,
)
from cache.response_store import StoredResponse
from server.accounting import wire_record
from server.auth import Caller
from server.errors import APIError
from server.openai_errors import openai_error
from server.pipeline_stream import log_outcome
from server.relay_response import CLOSE_GRACE_S, RelayResponse
from server.routes.admission import accounted, elapsed_ms
from server.routes.body import read_limited_body
from server.routes.chat_completions import (
    CACHE_HEADER,
    CACHE_MODES,
    admit,
    check_model,
    failed_info,
    frugal_info,
    head_headers,
    tail_headers,
)
from server.state import AppState

log = logging.getLogger("frugal.server")

ENDPOINT: Final = "responses"
_encoder: Final = msgspec.json.Encoder()

Keep = Callable[[dict[str, Any]], Awaitable[None]]


class NotFound(APIError):
    """404 in OpenAI's shape; ``param`` names the field that held the unknown id."""

    def __init__(self, message: str, *, param: str | None = None) -> None:
        super().__init__("not_found", message)
        self.param = param


@accounted(ENDPOINT)
async def create_response(
    state: AppState, request: Request, caller: Caller, started: float
) -> Response:
    """Answer one Responses request, whole or as a server-sent event stream."""
    raw = await read_limited_body(
        request,
        state.settings.server.max_body_bytes,
        timeout_s=state.settings.server.body_read_timeout_s,
    )
    cache = request.headers.get(CACHE_HEADER, "default")
    if cache not in CACHE_MODES:
        raise APIError("bad_cache_mode", f"{CACHE_HEADER} must be one of {', '.join(CACHE_MODES)}")
    body = _decode(raw)
    context = await _context(state, caller, body.get("previous_response_id"))
    translation = responses_to_chat(body, context=context)
    wire = decode_completion_request(
        _encoder.encode(translation.body), tenant=caller.tenant, cache=cache
    )
    check_model(state, wire.model)
    limit_headers = await admit(state, caller, wire)
    outcome = RunOutcome()
    events = state.components.core.run(wire, outcome)
    head = await _first(events)
    response_context = ResponseContext(f"resp_{head.request_id}", int(time.time()), echo_of(body))
    keep: Keep | None = None
    if body.get("store", True) is not False:
        keep = partial(_keep, state, caller.tenant, translation.input_items, context)
    headers = {**limit_headers, **head_headers(head)}
    if wire.stream:
        writer = ResponseEvents(response_context, head.model)
        relay = _Relay(state, events, head, outcome, caller, started)
        return RelayResponse(
            relay.stream(writer, keep),
            on_close=relay.close,
            media_type="text/event-stream",
            headers={**headers, "Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
        )
    async with aclosing(events):
        tail = await _drain(events)
    await state.components.cost.accounting.finish(
        wire_record(
            ENDPOINT, caller, head, outcome, tail, streamed=False, latency_ms=elapsed_ms(started)
        ),
        caller,
    )
    response = chat_to_response(tail.completion, response_context)
    if keep is not None:
        await keep(response)
    return Response(
        _encoder.encode({**response, "frugal": frugal_info(head, tail)}),
        media_type="application/json",
        headers={**headers, **tail_headers(tail)},
    )


def _decode(raw: bytes) -> dict[str, Any]:
    try:
        body = msgspec.json.decode(raw)
    except msgspec.DecodeError as exc:
        raise InvalidParam(f"the body is not valid JSON: {exc}", param=None) from exc
    if not isinstance(body, dict):
        raise InvalidParam("the body must be a JSON object", param=None)
    return body


async def _context(state: AppState, caller: Caller, previous: Any) -> list[dict[str, Any]]:
    if previous is None:
        return []
    if not isinstance(previous, str):
        raise InvalidParam("previous_response_id must be a string", param="previous_response_id")
    stored = await state.components.responses.get(caller.tenant, previous)
    if stored is None:
        raise NotFound(
            f"Previous response with id '{previous[:200]}' not found.",
            param="previous_response_id",
        )
    return stored.conversation()


async def _keep(
    state: AppState,
    tenant: str,
    input_items: list[dict[str, Any]],
    context: list[dict[str, Any]],
    response: dict[str, Any],
) -> None:
    stored = StoredResponse(response=response, input_items=input_items, context=context)
    await state.components.responses.put(tenant, stored)


async def _first(events: AsyncGenerator[CoreEvent, None]) -> Head:
    try:
        head = await anext(events)
    except BaseException:
        await events.aclose()
        raise
    if not isinstance(head, Head):
        await events.aclose()
        raise RuntimeError(f"the core began with {type(head).__name__}, not Head")
    return head


async def _drain(events: AsyncGenerator[CoreEvent, None]) -> Tail:
    async for event in events:
        if isinstance(event, Tail):
            return event
    raise RuntimeError("the core ended without a Tail")


def _sse(events: list[dict[str, Any]]) -> bytes:
    return b"".join(
        b"event: " + event["type"].encode() + b"\ndata: " + _encoder.encode(event) + b"\n\n"
        for event in events
    )


def _frugal_comment(info: dict[str, Any]) -> bytes:
    # An SSE comment, skipped by every client: the cost, for a caller that wants it.
    return b": frugal " + _encoder.encode(info) + b"\n\n"


class _Relay:
    """One streamed response: the core's chunks out as Responses events, accounted once
    however the stream ends."""

    def __init__(
        self,
        state: AppState,
        events: AsyncGenerator[CoreEvent, None],
        head: Head,
        outcome: RunOutcome,
        caller: Caller,
        started: float,
    ) -> None:
        self._state = state
        self._events = events
        self._head = head
        self._outcome = outcome
        self._caller = caller
        self._started = started

    async def stream(
        self, writer: ResponseEvents, keep: Keep | None
    ) -> AsyncGenerator[bytes, None]:
        """The event stream's bytes; the response is stored before ``response.completed``
        is sent, so a caller may continue from it as soon as it reads that event."""
        tail: Tail | None = None
        try:
            async with aclosing(self._events):
                held = _sse(writer.start())  # events of one upstream read, written together
                try:
                    async for event in self._events:
                        if isinstance(event, Piece):
                            held += _sse(writer.chunk(event.chunk))
                            if event.more:
                                continue
                        elif isinstance(event, Tail):
                            tail = event
                            continue
                        elif not isinstance(event, Flush):
                            continue
                        if held:
                            yield held
                            held = b""
                except Exception as exc:
                    log.warning("stream %s failed: %s", self._head.request_id, exc)
                    await self._account(None)
                    yield (
                        held
                        + _sse(writer.fail(_error_of(exc)))
                        + _frugal_comment(failed_info(self._head, self._outcome))
                    )
                    return
            await self._account(tail)
            ending, response = writer.finish(tail.completion if tail is not None else None)
            if keep is not None:
                await keep(response)
            info = frugal_info(self._head, tail) if tail is not None else {}
            yield held + _sse(ending) + (_frugal_comment(info) if info else b"")
        finally:
            if self._outcome.status not in ("completed", "failed"):
                await self._account(tail)

    async def close(self) -> None:
        """However the response ended: close the provider call, settle and record it."""
        with anyio.move_on_after(CLOSE_GRACE_S, shield=True):
            await self._events.aclose()
            await self._account(None)

    async def _account(self, tail: Tail | None) -> None:
        outcome = self._outcome
        if outcome.accounted:
            return
        outcome.accounted = True
        log_outcome("responses stream", self._head.request_id, outcome)
        record = wire_record(
            ENDPOINT,
            self._caller,
            self._head,
            outcome,
            tail,
            streamed=True,
            latency_ms=elapsed_ms(self._started),
        )
        await self._state.components.cost.accounting.finish(record, self._caller)


def _error_of(exc: BaseException) -> dict[str, Any]:
    _, body, _ = openai_error(exc)
    detail = msgspec.json.decode(body)["error"]
    return {"code": detail.get("code") or detail.get("type"), "message": detail.get("message")}
