"""``GET /chat/stream``: the Answer pipeline as server-sent events, for a browser EventSource.

The query carries the fields of ``POST /chat``'s body (same limits). Failures before the
first event are plain JSON errors; later ones end the stream with an ``error`` event (see
`server.pipeline_stream` for how the stream is owned, closed and logged).
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable

import msgspec
from starlette.datastructures import QueryParams
from starlette.requests import Request
from starlette.responses import Response

from agent.pipeline import (
    Done,
    Error,
    Meta,
    StreamEvent,
    StreamOutcome,
    Token,
    ToolCallEvent,
    ToolResultEvent,
)
from agent.pipeline.request import ChatRequest
from agent.types import Message
from server.accounting import streamed_record
from server.auth import STREAM_KEY_PARAM, Caller, claimed_user
from server.errors import APIError, error_for_exception
from server.pipeline_stream import (
    SSE_HEADERS,
    PipelineEvents,
    PipelineStreamResponse,
    start_stream,
)
from server.routes.admission import accounted, admit, elapsed_ms
from server.routes.chat import ChatBody
from server.sse_events import encode_event
from server.state import AppState

log = logging.getLogger("frugal.server")


@accounted("chat_stream", query_key_param=STREAM_KEY_PARAM, browser=True)
async def chat_stream(
    state: AppState, request: Request, caller: Caller, started: float
) -> Response:
    """Stream ``meta``, ``token``…, then ``done`` or ``error`` (see `server.sse_events`)."""
    query = parse_query(request.query_params)
    if request.method == "HEAD":  # Starlette adds HEAD to GET routes: no pipeline run
        return Response(media_type="text/event-stream", headers=SSE_HEADERS)
    chat = ChatRequest(
        messages=(Message("user", query.message),),
        session_id=query.session_id,
        user_id=claimed_user(caller, query.user_id),
        authenticated=caller.authenticated,
        tenant=caller.tenant,
        cache=query.cache,
        model=query.model,
    )
    agent = state.components.agents.select(query.agent, caller.tenant, query.session_id)
    limit_headers = await admit(state, caller, chat)
    # Failures before the first event are raised: a plain JSON error with its status.
    first, events, outcome = await start_stream(agent, chat)
    return event_stream_response(
        first,
        events,
        outcome,
        simulated=state.settings.uses_simulated_provider,
        heartbeat_s=state.settings.server.sse_heartbeat_s,
        headers={**limit_headers, **outcome.headers},
        on_close=stream_accounting(state, "chat_stream", caller, first, outcome, started),
    )


def stream_accounting(
    state: AppState,
    endpoint: str,
    caller: Caller,
    first: Meta,
    outcome: StreamOutcome,
    started: float,
) -> Callable[[], Awaitable[None]]:
    """An idempotent callback that accounts for the stream once. The relays await it just
    before sending the final event (so a client that saw ``done`` finds it in ``/stats``);
    `PipelineStreamResponse` awaits it again on close, for streams that never got there."""
    recorded = False

    async def finish() -> None:
        nonlocal recorded
        if recorded:
            return
        recorded = True
        record = streamed_record(endpoint, caller, first, outcome, latency_ms=elapsed_ms(started))
        await state.components.cost.accounting.finish(record, caller)
        done = outcome.done
        if done is not None:
            await state.components.experiments.record(
                done.request_id,
                done.agent,
                done.variant,
                cost_usd_micros=done.cost_usd_micros,
                latency_ms=done.latency_ms.get("total", 0.0),
                cache_hit=first.cache is not None,
                fallback=done.used_fallback,
            )

    return finish


def event_stream_response(
    first: Meta,
    events: PipelineEvents,
    outcome: StreamOutcome,
    *,
    simulated: bool,
    heartbeat_s: float,
    headers: dict[str, str] | None = None,
    on_close: Callable[[], Awaitable[None]] | None = None,
) -> PipelineStreamResponse:
    """The ``text/event-stream`` response relaying a started pipeline stream."""
    return PipelineStreamResponse(
        _relay(first, events, outcome, simulated, before_last=on_close),
        events=events,
        outcome=outcome,
        request_id=first.request_id,
        label="stream",
        headers=headers or {},
        heartbeat_s=heartbeat_s,
        on_close=on_close,
    )


def parse_query(params: QueryParams) -> ChatBody:
    """The query as a `ChatBody`; `APIError` ``unknown_field`` or ``invalid_request`` (422)."""
    items = [(key, value) for key, value in params.multi_items() if key != STREAM_KEY_PARAM]
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


async def _relay(
    first: Meta,
    events: AsyncIterator[StreamEvent],
    outcome: StreamOutcome,
    simulated: bool,
    *,
    before_last: Callable[[], Awaitable[None]] | None = None,
) -> AsyncGenerator[bytes, None]:
    def frame(event: StreamEvent) -> bytes:
        return encode_event(event, cache=first.cache, simulated=simulated)

    yield frame(first)
    last: Done | Error | None = None
    try:
        async for event in events:
            match event:
                case Token() | ToolCallEvent() | ToolResultEvent() if last is None:
                    yield frame(event)
                case Done() | Error():
                    # Sent once the pipeline has finished, so its accounting is final
                    # before the client can see the end and go away.
                    last = event
    except Exception as exc:
        last = _internal_failure(exc, first.request_id, outcome)
    if last is None:
        log.error("stream %s ended without done or error", first.request_id)
        last = Error("internal_error", "the answer ended unexpectedly", first.request_id)
    if before_last is not None:
        await before_last()
    if isinstance(last, Error):  # the run is over and billed: say what it cost
        cost = outcome.cost_usd_micros
        yield encode_event(
            last, cache=first.cache, simulated=simulated, failed_cost_usd_micros=cost
        )
    else:
        yield frame(last)


def _internal_failure(exc: Exception, request_id: str, outcome: StreamOutcome) -> Error:
    # The pipeline turns its own failures into Error events; whatever escapes is a bug.
    code, message, _ = error_for_exception(exc)
    if code == "internal_error":
        log.error("stream %s failed", request_id, exc_info=exc)
    outcome.status = "failed"
    outcome.error_code = code
    return Error(code, message, request_id)
