"""One core run at a ``/v1`` edge, whatever protocol the caller speaks.

Chat completions, Messages and Responses share everything but their bytes: admission (the
model check and the inbound rate limit), the core's first event, the ``x-frugal-*``
headers, the ``frugal`` information, and the accounting that happens exactly once however
the response ends (done, provider failure, client gone, a send that timed out). Each
protocol only says how the core's pieces become its own stream frames (`WireFrames`).
"""

from __future__ import annotations

import logging
from collections.abc import AsyncGenerator
from contextlib import aclosing
from dataclasses import dataclass
from typing import Any, Final, Protocol

import anyio
import msgspec
from starlette.requests import Request

from agent.core import CompletionRequest, Head, Piece, RunOutcome, Tail
from agent.core.events import CoreEvent
from agent.errors import ModelNotFound
from server.accounting import wire_record
from server.auth import Caller
from server.cache_headers import CACHE_HEADER, semantic_hit_headers
from server.errors import APIError
from server.pipeline_stream import log_outcome
from server.relay_response import CLOSE_GRACE_S, RelayResponse
from server.routes.admission import admit_messages, elapsed_ms
from server.routes.body import read_limited_body
from server.state import AppState

log = logging.getLogger("frugal.server")

CACHE_MODES: Final = ("default", "no-cache", "no-store")
_encoder: Final = msgspec.json.Encoder()


async def read_wire(state: AppState, request: Request) -> tuple[bytes, str]:
    """The request's body (size- and time-limited) and its ``x-frugal-cache`` mode."""
    raw = await read_limited_body(
        request,
        state.settings.server.max_body_bytes,
        timeout_s=state.settings.server.body_read_timeout_s,
    )
    cache = request.headers.get(CACHE_HEADER, "default")
    if cache not in CACHE_MODES:
        raise APIError("bad_cache_mode", f"{CACHE_HEADER} must be one of {', '.join(CACHE_MODES)}")
    return raw, cache


def check_model(state: AppState, model: str) -> None:
    """404 ``model_not_found`` for a model the registry does not serve as a chat model."""
    registry = state.components.registry
    if registry.is_auto(model):
        return
    resolved = registry.resolve(model)
    if resolved.spec.kind != "chat":
        raise ModelNotFound(
            f"The model `{model[:100]}` is an embedding model, not a chat model.", model=model
        )


def head_headers(head: Head, *, show_match: bool = False) -> dict[str, str]:
    """What is known before the first byte: cache layer (with a semantic hit's score, and
    with ``show_match`` the question it matched), model, route, request id, and on a stream
    whether a fallback model answers."""
    headers = {
        CACHE_HEADER: head.cache or "miss",
        **semantic_hit_headers(head.score, head.matched, show_match=show_match),
        "x-frugal-model": head.model,
        "x-frugal-route": head.tier,
        "x-frugal-request-id": head.request_id,
        "x-request-id": head.request_id,
    }
    if head.fallback_reason is not None:
        headers["x-frugal-fallback"] = f"{head.model}; reason={head.fallback_reason}"
    headers.update(head.headers)  # a stage's own, e.g. the guard's redaction counts
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


def frugal_comment(info: dict[str, Any]) -> bytes:
    """An SSE comment with Frugal's information: every SSE client skips it, so the
    protocol's stream stays as it was, while a caller that wants the cost reads it here
    (headers left before it was known)."""
    return b": frugal " + _encoder.encode(info) + b"\n\n"


async def first_event(events: AsyncGenerator[CoreEvent, None]) -> Head:
    """The core's `Head`; the run is closed if anything else (or an error) comes first."""
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
    """Read the core's events to its `Tail`."""
    async for event in events:
        if isinstance(event, Tail):
            return event
    raise RuntimeError("the core ended without a Tail")


class WireFrames(Protocol):
    """How one protocol writes a stream: its frames for the core's pieces, for a failure,
    and for the end (before Frugal's comment; ``done`` goes after it)."""

    done: bytes

    def piece(self, piece: Piece) -> bytes:
        """The frames for one piece (may be empty)."""
        ...

    def failed(self, exc: Exception) -> bytes:
        """The frames that end a stream that broke."""
        ...

    async def ending(self, tail: Tail | None) -> bytes:
        """The frames that end a complete stream (after its last piece)."""
        ...


@dataclass(slots=True)
class WireRun:
    """A core run started for one caller: relay it or drain it, accounted once."""

    state: AppState
    endpoint: str
    caller: Caller
    started: float
    wire: CompletionRequest
    events: AsyncGenerator[CoreEvent, None]
    head: Head
    outcome: RunOutcome
    limit_headers: dict[str, str]

    @classmethod
    async def start(
        cls, state: AppState, endpoint: str, caller: Caller, started: float, wire: CompletionRequest
    ) -> WireRun:
        """Admit the request and run the core to its `Head` (errors before it raise here)."""
        check_model(state, wire.model)
        limit_headers = await admit_messages(state, caller, wire.messages, wire.model)
        outcome = RunOutcome()
        events = state.components.core.run(wire, outcome)
        head = await first_event(events)
        return cls(state, endpoint, caller, started, wire, events, head, outcome, limit_headers)

    @property
    def headers(self) -> dict[str, str]:
        """The rate-limit and ``x-frugal-*`` headers known before the first byte."""
        show_match = self.state.settings.cache.semantic_show_match
        return {**self.limit_headers, **head_headers(self.head, show_match=show_match)}

    async def whole(self) -> Tail:
        """The complete answer's `Tail`, accounted."""
        async with aclosing(self.events):
            tail = await drain(self.events)
        await self._record(tail, streamed=False)
        return tail

    def stream(self, frames: WireFrames) -> RelayResponse:
        """The answer as a server-sent event stream in ``frames``' protocol."""
        return RelayResponse(
            self._relay(frames),
            on_close=self.close,
            media_type="text/event-stream",
            headers={**self.headers, "Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
        )

    async def _relay(self, frames: WireFrames) -> AsyncGenerator[bytes, None]:
        # Frames of one upstream read are written together; whatever ends the stream (done,
        # provider failure, client gone), it is accounted once.
        tail: Tail | None = None
        outcome = self.outcome
        try:
            async with aclosing(self.events):
                held = b""
                try:
                    async for event in self.events:
                        if isinstance(event, Piece):
                            held += frames.piece(event)
                            if event.more:
                                continue
                        elif isinstance(event, Tail):
                            tail = event
                            continue
                        if held:  # the last piece of a read, or a Flush
                            yield held
                            held = b""
                except Exception as exc:
                    log.warning("%s stream %s failed: %s", self.endpoint, self.head.request_id, exc)
                    await self.account(None)
                    yield (
                        held + frames.failed(exc) + frugal_comment(failed_info(self.head, outcome))
                    )
                    return
            await self.account(tail)
            ending = held + await frames.ending(tail)
            if tail is not None:
                ending += frugal_comment(frugal_info(self.head, tail))
            yield ending + frames.done
        finally:
            if outcome.status not in ("completed", "failed"):
                await self.account(tail)

    async def close(self) -> None:
        """However the response ended (done, client gone, a send that timed out, a body that
        never started): the provider call is closed, the hold settled, the request recorded."""
        with anyio.move_on_after(CLOSE_GRACE_S, shield=True):
            await self.events.aclose()
            await self.account(None)

    async def account(self, tail: Tail | None) -> None:
        """Record a streamed run once."""
        if self.outcome.accounted:
            return
        self.outcome.accounted = True
        log_outcome(f"{self.endpoint.replace('_', '.')} stream", self.head.request_id, self.outcome)
        await self._record(tail, streamed=True)

    async def _record(self, tail: Tail | None, *, streamed: bool) -> None:
        record = wire_record(
            self.endpoint,
            self.caller,
            self.head,
            self.outcome,
            tail,
            streamed=streamed,
            latency_ms=elapsed_ms(self.started),
        )
        await self.state.components.cost.accounting.finish(record, self.caller)
