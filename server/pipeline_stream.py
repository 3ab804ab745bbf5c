"""Serving `Agent.stream` as server-sent events; shared by ``/chat/stream`` and the streaming
form of ``/v1/chat/completions``, which differ only in how they frame events.

`start_stream` pulls the pipeline's first event before any byte is sent, so refusals stay
plain JSON errors with their status. `PipelineStreamResponse` then owns the pipeline's
generator: it runs it ahead of the writer (`server.event_prefetch`), and however the response
ends (done, error, client gone, send timeout, shutdown) the generator is closed, which closes
the provider call and bills only what was produced, and the `StreamOutcome` is logged once.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncGenerator, Awaitable, Callable

import anyio
from sse_starlette import EventSourceResponse
from sse_starlette.sse import SendTimeoutError
from starlette.types import Receive, Scope, Send

from agent.core import RunOutcome
from agent.pipeline import Agent, ChatRequest, Error, Meta, StreamOutcome
from agent.pipeline.response import StreamEvent
from server.errors import APIError
from server.event_prefetch import EventPrefetch

log = logging.getLogger("frugal.server")

# A client that reads nothing for this long is dropped (a stuck send would otherwise hold
# the provider call open); generous, since heartbeats keep healthy clients busy.
SEND_TIMEOUT_S = 30.0
# Closing the pipeline settles its budget and closes the provider socket; bounded, shielded.
_CLOSE_GRACE_S = 5.0
SSE_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}

PipelineEvents = EventPrefetch


async def start_stream(
    agent: Agent, chat: ChatRequest
) -> tuple[Meta, PipelineEvents, StreamOutcome]:
    """Run the pipeline up to its first event, `Meta`, and hand over the rest.

    Raises what the pipeline raises before its first event (`InvalidRequest`,
    `BudgetExceeded`), or `APIError` when it failed before choosing a model (an `Error`
    first event): nothing has been streamed yet, so both are ordinary JSON errors.
    """
    outcome = StreamOutcome()
    events: AsyncGenerator[StreamEvent, None] = agent.stream(chat, outcome=outcome)
    try:
        first = await anext(events)
    except BaseException:
        await close_quietly(events)
        raise
    if isinstance(first, Meta):
        return first, EventPrefetch(events), outcome
    await close_quietly(events)
    if isinstance(first, Error):
        raise APIError(first.code, first.message)
    raise RuntimeError(f"the pipeline stream began with {type(first).__name__}, not Meta")


async def close_quietly(generator: AsyncGenerator[object, None]) -> None:
    """Close ``generator`` within a grace period, even while being cancelled."""
    with anyio.move_on_after(_CLOSE_GRACE_S, shield=True):
        await generator.aclose()


class PipelineStreamResponse(EventSourceResponse):
    """An SSE response whose ``body`` frames the events of a started pipeline stream.

    Runs ``events`` ahead of the writer; closes ``body`` and the pipeline, logs ``outcome``
    under ``label`` and awaits ``on_close`` (the accounting) however the response ends, even
    when it never started (client gone).
    Heartbeat comments every ``heartbeat_s``; `SSE_HEADERS` on top of ``headers``.
    """

    def __init__(
        self,
        body: AsyncGenerator[bytes, None],
        *,
        events: PipelineEvents,
        outcome: StreamOutcome,
        request_id: str,
        label: str,
        headers: dict[str, str],
        heartbeat_s: float,
        on_close: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        super().__init__(
            body,
            headers={**SSE_HEADERS, "x-request-id": request_id, **headers},
            ping=heartbeat_s,
            sep="\n",
            send_timeout=SEND_TIMEOUT_S,
        )
        self._body = body
        self._events = events
        self._outcome = outcome
        self._request_id = request_id
        self._label = label
        self._on_close = on_close

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            async with anyio.create_task_group() as group:
                group.start_soon(self._events.pump)
                # Let the pump send the provider request before the SSE machinery starts.
                await anyio.lowlevel.checkpoint()
                try:
                    await super().__call__(scope, receive, send)
                except SendTimeoutError:
                    log.warning(
                        "%s %s: client stopped reading; dropped", self._label, self._request_id
                    )
                finally:
                    # Done or gone: a pump still waiting on the provider is cancelled, which
                    # closes the provider call (only the tokens produced are billed).
                    group.cancel_scope.cancel()
        finally:
            self._events.close()
            await close_quietly(self._body)
            await close_quietly(self._events.events)
            log_outcome(self._label, self._request_id, self._outcome)
            if self._on_close is not None:
                await self._on_close()


def log_outcome(label: str, request_id: str, outcome: StreamOutcome | RunOutcome) -> None:
    """One DEBUG line on ``frugal.server``: what the stream billed and how it ended (the
    request log's JSON line, `server.request_log`, is the INFO-level record)."""
    usage = outcome.usage
    log.debug(
        "%s %s %s model=%s prompt=%d cached_prompt=%d cache_write=%d completion=%d%s "
        "cost_usd_micros=%d%s%s",
        label,
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
