"""``GET /chat/stream``: the Answer pipeline as server-sent events, for a browser EventSource.

The query carries the fields of ``POST /chat``'s body (same limits). Failures before the
first event are plain JSON errors; later ones end the stream with an ``error`` event. The
response owns the pipeline's generator: however the stream ends (done, error, client gone,
send timeout, shutdown) the generator is closed, which closes the provider call and bills
only what was produced, and the `StreamOutcome` is logged once.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import AsyncGenerator, AsyncIterator
from contextlib import aclosing

import anyio
import msgspec
from sse_starlette import EventSourceResponse
from sse_starlette.sse import SendTimeoutError
from starlette.datastructures import QueryParams
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from agent.pipeline import ChatRequest, Done, Error, Meta, StreamEvent, StreamOutcome, Token
from agent.types import Message
from server.errors import APIError, error_for_exception, error_response, response_for_exception
from server.routes.chat import ChatBody
from server.sse_events import encode_event

log = logging.getLogger("frugal.server")

# A client that reads nothing for this long is dropped (a stuck send would otherwise hold
# the provider call open); generous, since heartbeats keep healthy clients busy.
_SEND_TIMEOUT_S = 30.0
# Closing the pipeline settles its budget and closes the provider socket; bounded, shielded.
_CLOSE_GRACE_S = 5.0
_SSE_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}


async def chat_stream(request: Request) -> Response:
    """Stream ``meta``, ``token``…, then ``done`` or ``error`` (see `server.sse_events`)."""
    state = request.app.state.frugal
    try:
        query = parse_query(request.query_params)
    except APIError as exc:
        return response_for_exception(exc)
    if request.method == "HEAD":  # Starlette adds HEAD to GET routes: no pipeline run for it
        return Response(media_type="text/event-stream", headers=_SSE_HEADERS)
    chat = ChatRequest(
        messages=(Message("user", query.message),),
        session_id=query.session_id,
        user_id=query.user_id,
        cache=query.cache,
        model=query.model,
    )
    outcome = StreamOutcome()
    events = state.components.agent.stream(chat, outcome=outcome)
    try:
        # Validation and budget errors are raised here, before any event: plain JSON.
        # (A generator that raised has finished: there is nothing left to close.)
        first = await anext(events)
    except Exception as exc:
        return response_for_exception(exc)
    if not isinstance(first, Meta):
        # The pipeline failed before choosing a model (e.g. a store error): nothing was
        # streamed, so it is still a plain JSON error. Drained, not closed: closing it on
        # its final yield would count as a cancellation.
        with anyio.move_on_after(_CLOSE_GRACE_S, shield=True):
            async with aclosing(events):
                async for _ in events:
                    pass
        return _first_event_error(first)
    return PipelineEventResponse(
        first,
        events,
        outcome,
        simulated=state.settings.uses_simulated_provider,
        heartbeat_s=state.settings.server.sse_heartbeat_s,
    )


def parse_query(params: QueryParams) -> ChatBody:
    """The query as a `ChatBody`; `APIError` ``unknown_field`` or ``invalid_request`` (422)."""
    items = params.multi_items()
    fields = dict(items)
    if len(fields) != len(items):
        counts = Counter(key for key, _ in items)
        repeated = sorted(key for key, n in counts.items() if n > 1)
        raise APIError("invalid_request", f"query parameters given twice: {', '.join(repeated)}")
    try:
        return msgspec.convert(fields, ChatBody)
    except msgspec.ValidationError as exc:
        text = str(exc).replace("Object", "Query", 1)
        code = "unknown_field" if "contains unknown field" in text else "invalid_request"
        raise APIError(code, text) from exc


class PipelineEventResponse(EventSourceResponse):
    """An SSE response that owns an `Agent.stream` generator whose `Meta` was already read.

    Closes the generator and logs ``outcome`` however the response ends, even when the
    stream never started (client gone at once).
    """

    def __init__(
        self,
        first: Meta,
        events: AsyncGenerator[StreamEvent, None],
        outcome: StreamOutcome,
        *,
        simulated: bool,
        heartbeat_s: float,
    ) -> None:
        super().__init__(
            _relay(first, events, outcome, simulated),
            headers={**_SSE_HEADERS, "x-request-id": first.request_id},
            ping=heartbeat_s,
            sep="\n",
            send_timeout=_SEND_TIMEOUT_S,
        )
        self._events = events
        self._outcome = outcome
        self._request_id = first.request_id

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await super().__call__(scope, receive, send)
        except SendTimeoutError:
            log.warning("stream %s: client stopped reading; dropped", self._request_id)
        finally:
            await _close(self._events)
            log_outcome(self._request_id, self._outcome)


async def _relay(
    first: Meta,
    events: AsyncIterator[StreamEvent],
    outcome: StreamOutcome,
    simulated: bool,
) -> AsyncIterator[bytes]:
    def frame(event: StreamEvent) -> bytes:
        return encode_event(event, cache=first.cache, simulated=simulated)

    yield frame(first)
    last: Done | Error | None = None
    try:
        async for event in events:
            match event:
                case Token() if last is None:
                    yield frame(event)
                case Done() | Error():
                    # Held until the pipeline has finished: closing it while it still
                    # sits on its last yield would re-bill it as a cancelled stream.
                    last = event
    except Exception as exc:
        last = _internal_failure(exc, first.request_id, outcome)
    if last is None:
        log.error("stream %s ended without done or error", first.request_id)
        last = Error("internal_error", "the answer ended unexpectedly", first.request_id)
    yield frame(last)


def _internal_failure(exc: Exception, request_id: str, outcome: StreamOutcome) -> Error:
    # The pipeline turns its own failures into Error events; whatever escapes is a bug.
    code, message, _ = error_for_exception(exc)
    if code == "internal_error":
        log.error("stream %s failed", request_id, exc_info=exc)
    outcome.status = "failed"
    outcome.error_code = code
    return Error(code, message, request_id)


def _first_event_error(event: StreamEvent) -> Response:
    if isinstance(event, Error):
        return error_response(event.code, event.message, {"x-request-id": event.request_id})
    log.error("stream began with %s instead of meta", type(event).__name__)
    return error_response("internal_error", "internal error; see the server log")


async def _close(events: AsyncGenerator[StreamEvent, None]) -> None:
    # Shielded: the response may be closing because it was cancelled.
    with anyio.move_on_after(_CLOSE_GRACE_S, shield=True):
        await events.aclose()


def log_outcome(request_id: str, outcome: StreamOutcome) -> None:
    """One INFO line on ``frugal.server``: what the stream billed and how it ended."""
    usage = outcome.usage
    log.info(
        "stream %s %s model=%s prompt=%d cached_prompt=%d cache_write=%d completion=%d%s "
        "cost_usd_micros=%d%s%s",
        request_id,
        outcome.status,
        outcome.model,
        usage.prompt,
        usage.cached_prompt,
        usage.cache_write,
        usage.completion,
        " (estimated)" if usage.estimated else "",
        outcome.cost_usd_micros,
        "" if outcome.cost_known else " (unknown price)",
        f" error={outcome.error_code}" if outcome.error_code else "",
        extra={"request_id": request_id, "stream_outcome": outcome},
    )
