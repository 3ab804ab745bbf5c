"""What one span costs: untraced (the default), and traced with the SDK's batch processor
(``python -m bench tracing``)."""

from __future__ import annotations

import time

from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from agent.tracing import request_span, span
from agent.tracing.otel import OTelTracer

SPANS = 20_000


def _per_span_us(traced: bool) -> float:
    provider = TracerProvider()
    provider.add_span_processor(
        BatchSpanProcessor(InMemorySpanExporter(), max_queue_size=SPANS * 2)
    )
    tracer = OTelTracer(provider.get_tracer("bench"))
    started = time.perf_counter()
    if traced:
        with request_span(tracer, "root", {}):
            for _ in range(SPANS):
                with span("child", {"frugal.n": 1}):
                    pass
    else:
        for _ in range(SPANS):
            with span("child", {"frugal.n": 1}):
                pass
    elapsed = time.perf_counter() - started
    provider.shutdown()
    return elapsed / SPANS * 1e6


def main() -> None:
    print(f"span, tracing off: {_per_span_us(False):.2f} us")
    print(f"span, tracing on:  {_per_span_us(True):.2f} us (SDK, batch processor)")


if __name__ == "__main__":
    main()
