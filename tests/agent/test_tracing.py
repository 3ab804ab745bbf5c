"""The tracing seam with the real OpenTelemetry SDK (in-memory exporter): parents follow the
current span, a generator's span never stays current while it is suspended, and an untraced
request costs nothing and sends no ``traceparent``."""

from __future__ import annotations

from collections.abc import AsyncIterator

import anyio
import anyio.lowlevel
import pytest
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import StatusCode

from agent.errors import UpstreamError
from agent.tracing import NO_SPAN, current_span, open_span, request_span, span, trace_headers, use
from agent.tracing.otel import OTelTracer

pytestmark = pytest.mark.anyio

CALLER = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"


@pytest.fixture
def exporter() -> InMemorySpanExporter:
    return InMemorySpanExporter()


@pytest.fixture
def tracer(exporter: InMemorySpanExporter) -> OTelTracer:
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    return OTelTracer(provider.get_tracer("test"))


def by_name(exporter: InMemorySpanExporter) -> dict[str, ReadableSpan]:
    return {s.name: s for s in exporter.get_finished_spans()}


def parent_of(spans: dict[str, ReadableSpan], name: str) -> str | None:
    parent = spans[name].parent
    if parent is None:
        return None
    return next(n for n, s in spans.items() if s.context.span_id == parent.span_id)


async def test_untraced_code_gets_the_no_op_span_and_no_headers() -> None:
    with span("anything") as s:
        assert s is NO_SPAN and current_span() is NO_SPAN
        assert trace_headers({"a": "b"}) == {"a": "b"}


async def test_children_follow_the_current_span_and_continue_the_callers_trace(
    tracer: OTelTracer, exporter: InMemorySpanExporter
) -> None:
    with request_span(tracer, "POST /x", {"traceparent": CALLER}):
        with span("outer"), span("inner") as inner:
            headers = trace_headers({})
        with span("sibling"):
            pass
    spans = by_name(exporter)
    assert {s.context.trace_id for s in spans.values()} == {0x0AF7651916CD43DD8448EB211C80319C}
    assert spans["POST /x"].parent is not None
    assert spans["POST /x"].parent.span_id == 0xB7AD6B7169203331
    assert parent_of(spans, "outer") == "POST /x" and parent_of(spans, "inner") == "outer"
    assert parent_of(spans, "sibling") == "POST /x"
    span_id = f"{spans['inner'].context.span_id:016x}"
    assert inner.trace_headers() == headers
    assert headers["traceparent"] == f"00-0af7651916cd43dd8448eb211c80319c-{span_id}-01"


async def test_a_suspended_generator_does_not_leave_its_span_current(
    tracer: OTelTracer, exporter: InMemorySpanExporter
) -> None:
    async def attempt() -> AsyncIterator[int]:
        with open_span("attempt") as s:
            for i in range(2):
                with use(s), span(f"step {i}"):
                    await anyio.lowlevel.checkpoint()
                yield i

    with request_span(tracer, "root", {}) as root:
        async for _ in attempt():
            assert current_span() is root  # between steps, the consumer's span is current
            with span("consumer"):
                pass
    spans = by_name(exporter)
    assert parent_of(spans, "step 0") == parent_of(spans, "step 1") == "attempt"
    assert parent_of(spans, "attempt") == parent_of(spans, "consumer") == "root"


async def test_a_failure_marks_the_span_with_the_error_code(
    tracer: OTelTracer, exporter: InMemorySpanExporter
) -> None:
    with request_span(tracer, "root", {}), pytest.raises(UpstreamError), span("call"):
        raise UpstreamError("boom", provider="p")
    failed = by_name(exporter)["call"]
    assert failed.status.status_code is StatusCode.ERROR
    assert dict(failed.attributes or {})["error.type"] == "upstream_error"


async def test_a_cancelled_span_is_flagged_not_failed(
    tracer: OTelTracer, exporter: InMemorySpanExporter
) -> None:
    with request_span(tracer, "root", {}), anyio.move_on_after(0), span("slow"):
        await anyio.sleep(1)
    slow = by_name(exporter)["slow"]
    assert slow.status.status_code is StatusCode.UNSET
    assert dict(slow.attributes or {})["frugal.cancelled"] is True
