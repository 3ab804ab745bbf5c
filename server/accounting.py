"""`Accounting`: where every chat request ends up, answered or refused.

The routes build one `RequestRecord` per request (with the helpers below) and hand it to
`Accounting.finish`, which adds it to the cost aggregates (`CostTracker`, shared through Redis
when configured), the Prometheus metrics, this replica's latency windows, the inbound token
budget, and the request log. Recording never fails a request.
"""

from __future__ import annotations

import logging
from collections import Counter

import anyio

from agent.core import Head, RunOutcome, Tail
from agent.pipeline import ChatResponse, Meta, StreamOutcome
from agent.pipeline.response import CacheDiagnostics
from metrics.cost_tracker import CallRecord, CostTracker
from metrics.latency_window import LatencyWindow
from metrics.prometheus import GatewayMetrics
from metrics.rate_limit import RateLimiter
from metrics.request_record import Lookup, Outcome, RequestRecord
from metrics.savings import split_saving
from server.auth import Caller
from server.request_log import log_request

log = logging.getLogger("frugal.server")

_RECORD_GRACE_S = 5.0
_OUTCOME_BY_STATUS: dict[str, Outcome] = {"completed": "ok", "cancelled": "cancelled"}


class Accounting:
    """Adds finished requests to every aggregate; see the module docstring."""

    def __init__(
        self,
        *,
        tracker: CostTracker,
        metrics: GatewayMetrics,
        limiter: RateLimiter | None = None,
        window_size: int = 4096,
    ) -> None:
        self.tracker = tracker
        self.metrics = metrics
        self._limiter = limiter
        self.latency = LatencyWindow(window_size)
        self.ttft = LatencyWindow(window_size)
        self.overhead = LatencyWindow(window_size)
        self.errors: Counter[str] = Counter()

    async def finish(self, record: RequestRecord, caller: Caller | None = None) -> None:
        """Account for ``record``; shielded (a client that hung up is still billed)."""
        with anyio.move_on_after(_RECORD_GRACE_S, shield=True):
            if _billable(record):
                await self.tracker.record(_call_record(record))
            if caller is not None and self._limiter is not None and record.usage.completion:
                await self._limiter.adjust(caller.subject, record.usage.completion)
        try:
            self.metrics.observe(record)
        except Exception:  # metrics are never worth a failed request
            log.exception("metrics update failed for %s", record.request_id)
        self.latency.add(record.latency_ms)
        self.overhead.add(record.overhead_ms)
        if record.ttft_ms is not None:
            self.ttft.add(record.ttft_ms)
        if record.fault is not None:
            self.errors[record.fault] += 1
        log_request(record)


def _billable(record: RequestRecord) -> bool:
    # A call is counted once it was answered, or once a provider was paid for part of it.
    if record.tier is None:
        return False
    return record.outcome == "ok" or record.cost_usd_micros > 0 or record.usage.prompt > 0


def _call_record(record: RequestRecord) -> CallRecord:
    saved = split_saving(record.cache_layer, record.saved_usd_micros)
    return CallRecord(
        model=record.model or "none",
        tier=record.tier or "none",
        tenant=record.tenant,
        cache_layer=record.cache_layer,
        usage=record.usage,
        cost_usd_micros=record.cost_usd_micros,
        cost_known=record.cost_known,
        cache_saved_usd_micros=saved.exact_cache + saved.semantic_cache,
        routing_saved_usd_micros=saved.routing,
        used_fallback=record.used_fallback,
        latency_ms=record.latency_ms,
        ttft_ms=record.ttft_ms,
    )


def answered_record(
    endpoint: str, caller: Caller, result: ChatResponse, *, latency_ms: float
) -> RequestRecord:
    """The record of a whole answer (``/chat`` or a non-streaming completion)."""
    exact, semantic = _lookups(result.cache_diagnostics)
    return RequestRecord(
        request_id=result.request_id,
        endpoint=endpoint,
        tenant=caller.tenant,
        tier=result.route.tier,
        cache_layer=result.cache,
        exact_lookup=exact,
        semantic_lookup=semantic,
        model=result.model,
        usage=result.usage,
        cost_usd_micros=result.cost_usd_micros,
        cost_known=result.cost_known,
        saved_usd_micros=result.saved_usd_micros,
        used_fallback=result.used_fallback,
        fallback_reason=result.fallback_reason,
        latency_ms=latency_ms,
        upstream_ms=result.latency_ms.get("llm"),
    )


def streamed_record(
    endpoint: str, caller: Caller, meta: Meta, outcome: StreamOutcome, *, latency_ms: float
) -> RequestRecord:
    """The record of a stream however it ended (done, error event, client gone)."""
    done = outcome.done
    if done is not None:
        exact, semantic = _lookups(done.cache_diagnostics)
    else:  # ended early: only what `Meta` said about the caches is known
        exact = "hit" if meta.cache == "exact" else None
        semantic = "hit" if meta.cache == "semantic" else None
    status = outcome.status
    return RequestRecord(
        request_id=meta.request_id,
        endpoint=endpoint,
        tenant=caller.tenant,
        outcome=_OUTCOME_BY_STATUS.get(status, "error"),
        error_code=outcome.error_code if status == "failed" else None,
        streamed=True,
        tier=meta.route.tier,
        cache_layer=meta.cache,
        exact_lookup=exact,
        semantic_lookup=semantic,
        model=outcome.model or meta.model,
        usage=outcome.usage,
        cost_usd_micros=outcome.cost_usd_micros,
        cost_known=outcome.cost_known,
        saved_usd_micros=done.saved_usd_micros if done is not None else 0,
        used_fallback=done.used_fallback if done is not None else False,
        fallback_reason=done.fallback_reason if done is not None else None,
        latency_ms=latency_ms,
        ttft_ms=outcome.latency_ms.get("ttft"),
        upstream_ms=outcome.latency_ms.get("llm"),
    )


def wire_record(
    endpoint: str,
    caller: Caller,
    head: Head,
    outcome: RunOutcome,
    tail: Tail | None,
    *,
    streamed: bool,
    latency_ms: float,
) -> RequestRecord:
    """The record of a wire request that reached the core, however it ended."""
    status = outcome.status
    return RequestRecord(
        request_id=head.request_id,
        endpoint=endpoint,
        tenant=caller.tenant,
        outcome=_OUTCOME_BY_STATUS.get(status, "error"),
        error_code=(outcome.error_code or "upstream_error") if status == "failed" else None,
        streamed=streamed,
        tier=head.tier,
        cache_layer=head.cache,
        exact_lookup=_lookup(head.exact),
        semantic_lookup=_lookup(head.semantic),
        model=outcome.model or head.model,
        usage=outcome.usage,
        cost_usd_micros=outcome.cost_usd_micros,
        cost_known=outcome.cost_known,
        saved_usd_micros=tail.saved_usd_micros if tail is not None else 0,
        used_fallback=tail.used_fallback if tail is not None else False,
        fallback_reason=tail.fallback_reason if tail is not None else None,
        latency_ms=latency_ms,
        ttft_ms=outcome.ttft_ms,
        upstream_ms=outcome.upstream_ms,
    )


def refused_record(
    endpoint: str,
    caller: Caller | None,
    code: str,
    status: int,
    *,
    latency_ms: float,
    request_id: str = "",
) -> RequestRecord:
    """The record of a request refused or failed before any answer (no bill)."""
    return RequestRecord(
        request_id=request_id,
        endpoint=endpoint,
        tenant=caller.tenant if caller is not None else "unknown",
        status=status,
        outcome="error",
        error_code=code,
        latency_ms=latency_ms,
    )


def _lookups(diagnostics: CacheDiagnostics) -> tuple[Lookup | None, Lookup | None]:
    return _lookup(diagnostics.exact), _lookup(diagnostics.semantic)


def _lookup(verdict: str) -> Lookup | None:
    # "disabled" and "skipped:<why>" mean the layer was not consulted.
    if verdict == "hit":
        return "hit"
    if verdict == "disabled" or verdict.startswith("skipped"):
        return None
    return "miss"
