"""Encoding of the ``/chat/stream`` events: one pipeline `StreamEvent` in, one SSE frame out.

Kept apart from the transport (the route and sse-starlette). The SSE event name carries the
kind, so the data is the struct's fields as compact JSON without msgspec's ``type`` tag:

- ``meta``: ``{"model", "route": {"tier", "reason", "model"}, "cache", "request_id", "simulated"}``
- ``token``: ``{"text"}``
- ``done``: every `Done` field plus ``"cache"`` (the same value as in ``meta``)
- ``tool_call``: ``{"call_id", "name", "arguments", "round"}`` (model-driven planner)
- ``tool_result``: ``{"call_id", "name", "ok", "error", "elapsed_ms", "started_ms",
  "ended_ms", "cached"}``
- ``error``: ``{"code", "message", "request_id", "cost_usd_micros"}`` (what the failed answer
  was billed, so a caller's sum of ``done`` and ``error`` costs equals ``/stats``)
"""

from __future__ import annotations

from typing import Any

import msgspec

from agent.pipeline import Done, Error, Meta, StreamEvent, Token, ToolCallEvent, ToolResultEvent
from agent.pipeline.response import CacheSource

_encoder = msgspec.json.Encoder()


def encode_event(
    event: StreamEvent,
    *,
    cache: CacheSource | None,
    simulated: bool,
    failed_cost_usd_micros: int = 0,
) -> bytes:
    """The SSE frame for ``event``.

    ``cache`` (the stream's cache layer, from its `Meta`) is added to ``done``; ``simulated``
    (whether the gateway answers from its simulated provider) is added to ``meta``;
    ``failed_cost_usd_micros`` (what a failed stream was billed) to ``error``.
    """
    data: dict[str, Any]
    match event:
        case Meta():
            name, data = b"meta", {**msgspec.structs.asdict(event), "simulated": simulated}
        case Token(text=text):
            name, data = b"token", {"text": text}
        case Done():
            name, data = b"done", {**msgspec.structs.asdict(event), "cache": cache}
        case ToolCallEvent():
            name, data = b"tool_call", msgspec.structs.asdict(event)
        case ToolResultEvent():
            name, data = b"tool_result", msgspec.structs.asdict(event)
        case Error():
            name = b"error"
            data = {**msgspec.structs.asdict(event), "cost_usd_micros": failed_cost_usd_micros}
    return sse_frame(name, _encoder.encode(data))


def sse_frame(name: bytes, data: bytes) -> bytes:
    """One named event; ``data`` must hold no line break (msgspec's JSON never does)."""
    return b"event: " + name + b"\ndata: " + data + b"\n\n"
