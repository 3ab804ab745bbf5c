"""Request tracing: the `Tracer`/`Span` seam and the helpers the pipeline calls (see
`agent.tracing.base`); `agent.tracing.otel` holds the OpenTelemetry implementation and is
imported only when tracing is on."""

from agent.tracing.base import (
    NO_SPAN,
    AttributeValue,
    Span,
    Tracer,
    current_span,
    open_span,
    request_span,
    span,
    trace_headers,
    use,
)

__all__ = [
    "NO_SPAN",
    "AttributeValue",
    "Span",
    "Tracer",
    "current_span",
    "open_span",
    "request_span",
    "span",
    "trace_headers",
    "use",
]
