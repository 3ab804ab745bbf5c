"""`OTelTracer`: the `Tracer` seam over an OpenTelemetry SDK tracer.

Imported only when tracing is on (`server.tracing_setup`), so a gateway with tracing off
never loads OpenTelemetry. Parents are passed explicitly (never OpenTelemetry's global
context), and the W3C ``traceparent`` is read from the caller and written for the provider
with the standard propagator.
"""

from __future__ import annotations

from collections.abc import Mapping

from opentelemetry import trace
from opentelemetry.trace import SpanKind, Status, StatusCode
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from agent.tracing.base import AttributeValue, Span

_MAX_STATUS_TEXT = 200


class OTelSpan:
    """An OpenTelemetry span seen through the `Span` seam."""

    __slots__ = ("_propagator", "raw")

    def __init__(self, raw: trace.Span, propagator: TraceContextTextMapPropagator) -> None:
        self.raw = raw
        self._propagator = propagator

    def set_attribute(self, key: str, value: AttributeValue) -> None:
        self.raw.set_attribute(key, value)

    def record_failure(self, exc: BaseException) -> None:
        code = getattr(exc, "code", None)
        self.raw.set_attribute("error.type", code if isinstance(code, str) else type(exc).__name__)
        self.raw.set_status(Status(StatusCode.ERROR, str(exc)[:_MAX_STATUS_TEXT]))

    def rename(self, name: str) -> None:
        self.raw.update_name(name)

    def end(self) -> None:
        self.raw.end()

    def trace_headers(self) -> dict[str, str]:
        carrier: dict[str, str] = {}
        self._propagator.inject(carrier, context=trace.set_span_in_context(self.raw))
        return carrier


class OTelTracer:
    """Starts OpenTelemetry spans from ``tracer`` (one `TracerProvider`'s)."""

    def __init__(self, tracer: trace.Tracer) -> None:
        self._tracer = tracer
        self._propagator = TraceContextTextMapPropagator()

    def start(
        self,
        name: str,
        parent: Span | None,
        *,
        client: bool = False,
        attributes: Mapping[str, AttributeValue] | None = None,
    ) -> Span:
        context = trace.set_span_in_context(parent.raw) if isinstance(parent, OTelSpan) else None
        raw = self._tracer.start_span(
            name,
            context=context,
            kind=SpanKind.CLIENT if client else SpanKind.INTERNAL,
            attributes=attributes,
        )
        return OTelSpan(raw, self._propagator)

    def start_request(
        self,
        name: str,
        headers: Mapping[str, str],
        *,
        attributes: Mapping[str, AttributeValue] | None = None,
    ) -> Span:
        # An absent or malformed traceparent extracts to an empty context: a new trace.
        context = self._propagator.extract(dict(headers))
        raw = self._tracer.start_span(
            name, context=context, kind=SpanKind.SERVER, attributes=attributes
        )
        return OTelSpan(raw, self._propagator)
