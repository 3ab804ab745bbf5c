"""Builds the OpenTelemetry pipeline when ``[tracing] enabled`` (nothing is imported when off).

Spans go to the OTLP/HTTP endpoint in batches (a background thread of the SDK, so exporting
never blocks the event loop); tests hand an exporter of their own (the SDK's in-memory one),
exported span by span.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from agent.tracing import Tracer
from server.settings_tracing import TracingSettings

if TYPE_CHECKING:
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SpanExporter


@dataclass(frozen=True)
class Tracing:
    """The tracer requests use and the provider to flush and close on shutdown."""

    tracer: Tracer
    provider: TracerProvider

    def shutdown(self) -> None:
        """Export what is buffered and stop the exporter."""
        self.provider.shutdown()


def build_tracing(
    settings: TracingSettings, *, exporter: SpanExporter | None = None
) -> Tracing | None:
    """The tracing of an app with ``settings`` (None when off); ``exporter`` replaces the
    OTLP exporter (spans are then exported one by one, as they end)."""
    if not settings.enabled:
        return None
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor
    from opentelemetry.sdk.trace.sampling import ParentBased, TraceIdRatioBased

    from agent.tracing.otel import OTelTracer

    provider = TracerProvider(
        resource=Resource.create({"service.name": settings.service_name}),
        sampler=ParentBased(TraceIdRatioBased(settings.sample_ratio)),
    )
    if exporter is None:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        provider.add_span_processor(
            BatchSpanProcessor(OTLPSpanExporter(endpoint=settings.otlp_endpoint))
        )
    else:
        provider.add_span_processor(SimpleSpanProcessor(exporter))
    return Tracing(OTelTracer(provider.get_tracer("frugal")), provider)
