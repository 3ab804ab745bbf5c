"""Request tracing behind one small seam: `Tracer` makes `Span`s; the functions below find the
request's span in a context variable, so the code they measure never sees OpenTelemetry.

Tracing is off unless the server wraps a request in `request_span` with a tracer (see
`agent.tracing.otel`); until then every `span` is the shared no-op `NO_SPAN` and costs one
context-variable read. A context variable (not an argument threaded through every
constructor) carries the span because that is how the caller's context already reaches
every task the request starts: anyio task groups copy it, so a tool run in a task group is a
child of the span that started the group.

One rule keeps parents right: a span is *current* only while no ``yield`` is pending.
Generators open their span with `open_span` (not current) and make it current around each
step with `use`, so a suspended generator never leaves its span current for its consumer.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager, suppress
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Final, Protocol

import anyio

AttributeValue = str | bool | int | float


class Span(Protocol):
    """One timed operation of a request."""

    def set_attribute(self, key: str, value: AttributeValue) -> None:
        """Attach ``key=value`` (the last value set wins)."""
        ...

    def record_failure(self, exc: BaseException) -> None:
        """Mark the span failed by ``exc`` (its ``code`` when it has one)."""
        ...

    def rename(self, name: str) -> None:
        """Replace the span's name (once what it measured is better known)."""
        ...

    def end(self) -> None:
        """Close the span; later calls do nothing."""
        ...

    def trace_headers(self) -> dict[str, str]:
        """The W3C ``traceparent`` (and ``tracestate``) naming this span as the parent,
        for an outgoing request; empty for a span that is not recorded."""
        ...


class Tracer(Protocol):
    """Starts spans; `agent.tracing.otel.OTelTracer` is the OpenTelemetry one."""

    def start(
        self,
        name: str,
        parent: Span | None,
        *,
        client: bool = False,
        attributes: Mapping[str, AttributeValue] | None = None,
    ) -> Span:
        """A started child of ``parent`` (``client``: it calls another service)."""
        ...

    def start_request(
        self,
        name: str,
        headers: Mapping[str, str],
        *,
        attributes: Mapping[str, AttributeValue] | None = None,
    ) -> Span:
        """A started server span for an incoming request, continuing the caller's trace
        when ``headers`` carry a valid ``traceparent`` (a new trace otherwise)."""
        ...


class _NoSpan:
    """The span of an untraced request: every method does nothing."""

    __slots__ = ()

    def set_attribute(self, key: str, value: AttributeValue) -> None:
        return None

    def record_failure(self, exc: BaseException) -> None:
        return None

    def rename(self, name: str) -> None:
        return None

    def end(self) -> None:
        return None

    def trace_headers(self) -> dict[str, str]:
        return {}


NO_SPAN: Final[Span] = _NoSpan()


@dataclass(frozen=True, slots=True)
class _Active:
    tracer: Tracer
    span: Span


_active: ContextVar[_Active | None] = ContextVar("frugal_active_span", default=None)


def current_span() -> Span:
    """The request's current span (`NO_SPAN` when the request is not traced)."""
    active = _active.get()
    return NO_SPAN if active is None else active.span


@contextmanager
def request_span(
    tracer: Tracer,
    name: str,
    headers: Mapping[str, str],
    attributes: Mapping[str, AttributeValue] | None = None,
) -> Iterator[Span]:
    """Trace the block as one incoming request (its root span, current in the block)."""
    root = tracer.start_request(name, headers, attributes=attributes)
    with _ending(root), use(root, tracer):
        yield root


@contextmanager
def span(
    name: str, attributes: Mapping[str, AttributeValue] | None = None, *, client: bool = False
) -> Iterator[Span]:
    """A child of the current span, current inside the block (which must not ``yield``
    from a generator: use `open_span` and `use` there)."""
    if _active.get() is None:  # untraced: one context-variable read
        yield NO_SPAN
        return
    with open_span(name, attributes, client=client) as opened, use(opened):
        yield opened


@contextmanager
def open_span(
    name: str, attributes: Mapping[str, AttributeValue] | None = None, *, client: bool = False
) -> Iterator[Span]:
    """A child of the current span, *not* made current: ended (failed, when the block
    raises) on the way out."""
    active = _active.get()
    if active is None:
        yield NO_SPAN
        return
    opened = active.tracer.start(name, active.span, client=client, attributes=attributes)
    with _ending(opened):
        yield opened


@contextmanager
def use(opened: Span, tracer: Tracer | None = None) -> Iterator[None]:
    """Make ``opened`` the current span inside the block."""
    active = _active.get()
    tracer = tracer or (active.tracer if active is not None else None)
    if tracer is None or opened is NO_SPAN:
        yield
        return
    token = _active.set(_Active(tracer, opened))
    try:
        yield
    finally:
        # Closed from another context (a generator finalised elsewhere): that context is
        # not ours to restore, and the one it was set in has ended.
        with suppress(ValueError):
            _active.reset(token)


def trace_headers(headers: Mapping[str, str]) -> Mapping[str, str]:
    """``headers`` plus the current span's ``traceparent``, for a request to a provider;
    ``headers`` themselves when the request is not traced."""
    extra = current_span().trace_headers()
    return {**headers, **extra} if extra else headers


@contextmanager
def _ending(opened: Span) -> Iterator[None]:
    try:
        yield
    except BaseException as exc:
        if isinstance(exc, GeneratorExit | anyio.get_cancelled_exc_class()):
            opened.set_attribute("frugal.cancelled", True)
        else:
            opened.record_failure(exc)
        raise
    finally:
        opened.end()
