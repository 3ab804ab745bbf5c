"""What every chat endpoint does around the pipeline: identify the caller, apply the inbound
rate limit, and hand the finished request to `server.accounting.Accounting`.

The inbound token budget counts the caller's prompt tokens when the request is admitted and
the answer's tokens once they are known (`Accounting.finish` adjusts it).
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Iterable
from typing import TYPE_CHECKING

from starlette.requests import HTTPConnection, Request
from starlette.responses import Response

from agent.pipeline import ChatRequest
from agent.pipeline.request import AUTO_MODEL
from agent.tokens import count_message_tokens
from agent.tracing import span
from agent.types import Message
from metrics.rate_limit import RateLimitExceeded, rate_limit_headers
from server.accounting import refused_record
from server.auth import Caller
from server.errors import error_for_exception, status_of
from server.state import app_state

if TYPE_CHECKING:
    from server.state import AppState


def identify(
    state: AppState,
    request: HTTPConnection,
    *,
    query_key: str | None = None,
    allow_cookie: bool = False,
) -> Caller:
    """The caller of ``request`` (raises `APIError` ``unauthorized``)."""
    return state.components.cost.auth.identify(
        request, query_key=query_key, allow_cookie=allow_cookie
    )


async def admit(state: AppState, caller: Caller, chat: ChatRequest) -> dict[str, str]:
    """Count ``chat`` against the caller's rate limit; the ``X-RateLimit-*`` headers to send.

    Raises `RateLimitExceeded` (429 with ``Retry-After``) when the caller is over a limit.
    """
    return await admit_messages(state, caller, chat.messages, chat.model)


async def admit_messages(
    state: AppState, caller: Caller, messages: Iterable[Message], model: str
) -> dict[str, str]:
    """`admit` for any endpoint: ``messages`` are the prompt's plain-text view, counted with
    ``model``'s tokenizer (the cheap model's for ``auto``)."""
    with span("admission"):  # a refusal marks the span failed (error.type rate_limited)
        return await _admit(state, caller, messages, model)


async def _admit(
    state: AppState, caller: Caller, messages: Iterable[Message], model: str
) -> dict[str, str]:
    cost = state.components.cost
    limiter = cost.limiter
    if limiter is None:
        return {}
    tokens = 0
    if cost.rate_limits.tokens is not None:
        counted_as = state.settings.models.cheap if model == AUTO_MODEL else model
        tokens = count_message_tokens(messages, counted_as)
    decision = await limiter.check(caller.subject, tokens)
    if not decision.allowed:
        raise RateLimitExceeded(decision)
    return rate_limit_headers(decision)


async def account_failure(
    state: AppState,
    endpoint: str,
    caller: Caller | None,
    exc: BaseException,
    started: float,
    *,
    request_id: str = "",
) -> None:
    """Record a request that failed before an answer (refused, invalid, provider down)."""
    code, _, _ = error_for_exception(exc)
    record = refused_record(
        endpoint,
        caller,
        code,
        status_of(code),
        latency_ms=elapsed_ms(started),
        request_id=request_id,
    )
    await state.components.cost.accounting.finish(record, caller)


def elapsed_ms(started: float) -> float:
    """Milliseconds since ``started`` (a `time.perf_counter` reading)."""
    return (time.perf_counter() - started) * 1000


AdmittedHandler = Callable[["AppState", Request, Caller, float], Awaitable[Response]]


def accounted(
    endpoint: str, *, query_key_param: str | None = None, browser: bool = False
) -> Callable[[AdmittedHandler], Callable[[Request], Awaitable[Response]]]:
    """The one wrapper every API route goes through: it identifies the caller (from the
    key, or the ``query_key_param`` query parameter for an EventSource, which cannot send
    headers; with ``browser`` also the chat page's session cookie), runs the handler with
    the app's typed state, and records a request that fails before an answer once, then
    re-raises it for the app's error handler to answer."""

    def wrap(handler: AdmittedHandler) -> Callable[[Request], Awaitable[Response]]:
        async def route(request: Request) -> Response:
            state = app_state(request)
            started = time.perf_counter()
            caller: Caller | None = None
            try:
                key = request.query_params.get(query_key_param) if query_key_param else None
                caller = identify(state, request, query_key=key, allow_cookie=browser)
                return await handler(state, request, caller, started)
            except Exception as exc:
                await account_failure(state, endpoint, caller, exc, started)
                raise

        route.__name__ = route.__qualname__ = handler.__name__
        route.__doc__ = handler.__doc__
        return route

    return wrap
