"""One structured JSON line per chat request on the ``frugal.requests`` logger.

The line carries identifiers, routing, tokens, money and time, and nothing a caller wrote:
no message text, no user id, no API key (the tenant is the configured name of the key).
"""

from __future__ import annotations

import logging
import time
from typing import Final

import msgspec

from metrics.request_record import RequestRecord

REQUEST_LOGGER: Final = "frugal.requests"

_log = logging.getLogger(REQUEST_LOGGER)


class Tokens(msgspec.Struct, frozen=True):
    input: int
    cached_input: int
    cache_write: int
    output: int
    estimated: bool


class RequestLogLine(msgspec.Struct, frozen=True, omit_defaults=True):
    """The JSON object logged for one request (``None`` fields are left out)."""

    ts: float
    event: str
    request_id: str
    endpoint: str
    tenant: str
    status: int
    outcome: str
    latency_ms: float
    overhead_ms: float
    cost_usd_micros: int
    saved_usd_micros: int
    cost_known: bool = True
    streamed: bool = False
    used_fallback: bool = False
    route: str | None = None
    cache: str | None = None
    model: str | None = None
    tokens: Tokens | None = None
    ttft_ms: float | None = None
    upstream_ms: float | None = None
    error_code: str | None = None
    fault: str | None = None


_encoder = msgspec.json.Encoder()


def log_request(record: RequestRecord) -> None:
    """Log ``record`` as one JSON line (INFO; WARNING when we or the provider failed)."""
    level = logging.WARNING if record.fault in ("provider", "frugal") else logging.INFO
    if not _log.isEnabledFor(level):
        return
    usage = record.usage
    line = RequestLogLine(
        ts=round(time.time(), 3),
        event="request",
        request_id=record.request_id,
        endpoint=record.endpoint,
        tenant=record.tenant,
        status=record.status,
        outcome=record.outcome,
        latency_ms=round(record.latency_ms, 3),
        overhead_ms=round(record.overhead_ms, 3),
        cost_usd_micros=record.cost_usd_micros,
        saved_usd_micros=record.saved_usd_micros,
        cost_known=record.cost_known,
        streamed=record.streamed,
        used_fallback=record.used_fallback,
        route=record.tier,
        cache=record.cache_layer,
        model=record.model,
        tokens=Tokens(
            input=usage.prompt,
            cached_input=usage.cached_prompt,
            cache_write=usage.cache_write,
            output=usage.completion,
            estimated=usage.estimated,
        )
        if record.tier is not None
        else None,
        ttft_ms=None if record.ttft_ms is None else round(record.ttft_ms, 3),
        upstream_ms=None if record.upstream_ms is None else round(record.upstream_ms, 3),
        error_code=record.error_code,
        fault=record.fault,
    )
    _log.log(level, _encoder.encode(line).decode())
