"""The aiohttp edge shared by every provider client.

One `aiohttp.ClientSession` per process (`create_http_session`), per-request timeouts
(`json_timeout`, `stream_timeout`), the one place where aiohttp/asyncio/msgspec exceptions
become `agent.errors` (`map_aiohttp_errors`), HTTP status mapping (`raise_for_status`), and the
whole-body and streamed POSTs (`post_json`, `post_stream`; the SSE reading is `agent.sse`).
"""

from __future__ import annotations

import email.utils
import logging
import time
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Iterator, Mapping
from contextlib import aclosing, contextmanager
from typing import TypeVar

import aiohttp
import msgspec

from agent.errors import (
    AuthError,
    BadRequest,
    ContextLengthExceeded,
    ProtocolError,
    ProviderError,
    RateLimited,
    UpstreamError,
    UpstreamTimeout,
)
from agent.sse import SSEEvent, iter_sse_events
from agent.tracing import trace_headers

# Keep error bodies in exception messages short enough for logs.
_MAX_ERROR_MESSAGE = 500
_CONTEXT_LENGTH_CODES = frozenset({"context_length_exceeded", "string_above_max_length"})
_CONTEXT_LENGTH_PHRASES = ("prompt is too long", "context length", "context window")

_log = logging.getLogger(__name__)
T = TypeVar("T")


def create_http_session(*, pool_size: int, connect_timeout_s: float) -> aiohttp.ClientSession:
    """Return the process-wide session: a bounded keep-alive pool shared by all clients.

    Call it from inside the running event loop (the app lifespan) and close it there; clients
    take it in their constructor and never close it. The session carries only the connect
    timeout; each request sets its own read/total timeout.
    """
    connector = aiohttp.TCPConnector(
        limit=pool_size,
        limit_per_host=pool_size,
        keepalive_timeout=30.0,
        enable_cleanup_closed=False,
    )
    timeout = aiohttp.ClientTimeout(
        total=None, connect=connect_timeout_s, sock_connect=connect_timeout_s
    )
    return aiohttp.ClientSession(connector=connector, timeout=timeout, raise_for_status=False)


def json_timeout(session: aiohttp.ClientSession, timeout_s: float) -> aiohttp.ClientTimeout:
    """A whole-call deadline for a JSON request, keeping the session's connect timeouts."""
    base = session.timeout
    return aiohttp.ClientTimeout(
        total=timeout_s, connect=base.connect, sock_connect=base.sock_connect
    )


def stream_timeout(session: aiohttp.ClientSession, timeout_s: float) -> aiohttp.ClientTimeout:
    """A gap deadline for a stream: no total, but at most ``timeout_s`` between two reads.

    The same gap bounds the wait for the response headers, so a hung upstream still fails.
    """
    base = session.timeout
    return aiohttp.ClientTimeout(
        total=None, connect=base.connect, sock_connect=base.sock_connect, sock_read=timeout_s
    )


@contextmanager
def map_aiohttp_errors(provider: str) -> Iterator[None]:
    """Translate transport and decoding exceptions raised in the block into `agent.errors`.

    Timeouts become `UpstreamTimeout`, broken connections `UpstreamError`, undecodable bodies
    `ProtocolError`; our own `ProviderError`s and cancellation pass through untouched.
    """
    try:
        yield
    except ProviderError:
        raise
    except TimeoutError as exc:  # also aiohttp.ServerTimeoutError and asyncio.TimeoutError
        raise UpstreamTimeout(
            f"{provider} timed out: {exc or 'no data'}", provider=provider
        ) from exc
    except aiohttp.ClientResponseError as exc:
        raise error_for_status(exc.status, exc.message, provider=provider) from exc
    except (aiohttp.ClientError, OSError) as exc:
        # ClientConnectionError, ServerDisconnectedError, ClientPayloadError, ClientOSError...
        # The caller sees what went wrong, not our network details (addresses, library
        # text): those go to the log.
        _log.warning("%s connection failed: %s: %s", provider, type(exc).__name__, exc)
        raise UpstreamError(
            f"{provider} connection failed ({_connection_failure(exc)})", provider=provider
        ) from exc
    except msgspec.DecodeError as exc:  # ValidationError is a DecodeError too
        raise ProtocolError(f"{provider} sent an invalid body: {exc}", provider=provider) from exc


def _connection_failure(exc: Exception) -> str:
    if isinstance(exc, aiohttp.ClientConnectorError):
        return "could not connect"
    if isinstance(exc, aiohttp.ServerDisconnectedError):
        return "the provider closed the connection"
    if isinstance(exc, aiohttp.ClientPayloadError):
        return "the response body was cut short"
    return "the connection broke"


class _ErrorDetail(msgspec.Struct):
    message: str = ""
    type: str | None = None
    code: str | int | None = None


class _ErrorEnvelope(msgspec.Struct):
    # Both OpenAI ({"error": {...}}) and Anthropic ({"type": "error", "error": {...}}).
    error: _ErrorDetail | None = None


_error_decoder = msgspec.json.Decoder(_ErrorEnvelope)


async def raise_for_status(response: aiohttp.ClientResponse, *, provider: str) -> None:
    """Raise the `ProviderError` matching a non-2xx response; return quietly on success.

    The body is read (it is small) so the provider's own message ends up in the exception.
    """
    if response.status < 400:
        return
    body = await response.read()
    message, code = _parse_error_body(body)
    raise error_for_status(
        response.status,
        message or response.reason or "",
        provider=provider,
        code=code,
        retry_after=retry_after_from_headers(response.headers),
    )


def error_for_status(
    status: int,
    message: str,
    *,
    provider: str,
    code: str | None = None,
    retry_after: float | None = None,
) -> ProviderError:
    """Build the exception for an HTTP error ``status`` with the provider's ``message``."""
    error = _error_for_status(
        status, message, provider=provider, code=code, retry_after=retry_after
    )
    error.upstream_message = message[:_MAX_ERROR_MESSAGE]
    error.upstream_code = code
    return error


def _error_for_status(
    status: int,
    message: str,
    *,
    provider: str,
    code: str | None,
    retry_after: float | None,
) -> ProviderError:
    text = f"{provider} answered {status}: {message[:_MAX_ERROR_MESSAGE]}"
    if status in (401, 403):
        return AuthError(text, provider=provider, status=status)
    if status == 429:
        return RateLimited(text, provider=provider, status=status, retry_after=retry_after)
    if status == 408:
        return UpstreamTimeout(text, provider=provider, status=status)
    if 400 <= status < 500:
        if status in (400, 413) and is_context_length_error(message, code):
            return ContextLengthExceeded(text, provider=provider, status=status)
        return BadRequest(text, provider=provider, status=status)
    # 5xx, Anthropic's 529 overloaded, and anything unexpected.
    return UpstreamError(text, provider=provider, status=status)


def is_context_length_error(message: str, code: str | None) -> bool:
    """True when an error says the prompt does not fit the model's context window."""
    if code in _CONTEXT_LENGTH_CODES:
        return True
    lowered = message.lower()
    return any(phrase in lowered for phrase in _CONTEXT_LENGTH_PHRASES)


def retry_after_from_headers(headers: Mapping[str, str]) -> float | None:
    """Seconds to wait from ``retry-after-ms`` (OpenAI) or ``Retry-After`` (seconds or date)."""
    millis = headers.get("retry-after-ms")
    if millis is not None:
        try:
            return max(float(millis) / 1000.0, 0.0)
        except ValueError:
            pass
    value = headers.get("retry-after")
    if value is None:
        return None
    try:
        return max(float(value), 0.0)
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(when.timestamp() - time.time(), 0.0)


def _parse_error_body(body: bytes) -> tuple[str, str | None]:
    try:
        envelope = _error_decoder.decode(body)
    except msgspec.DecodeError:
        return body.decode("utf-8", "replace").strip(), None
    if envelope.error is None:
        return body.decode("utf-8", "replace").strip(), None
    detail = envelope.error
    code = detail.code if isinstance(detail.code, str) else detail.type
    return detail.message, code


async def post_json(
    session: aiohttp.ClientSession,
    url: str,
    *,
    body: bytes,
    headers: Mapping[str, str],
    timeout_s: float,
    provider: str,
) -> bytes:
    """POST ``body`` and return the whole response body; errors (status and transport) are
    mapped once to `ProviderError` subclasses naming ``provider``. A traced request sends
    the current span's ``traceparent`` along."""
    with map_aiohttp_errors(provider):
        async with session.post(
            url,
            data=body,
            headers=trace_headers(headers),
            timeout=json_timeout(session, timeout_s),
        ) as response:
            await raise_for_status(response, provider=provider)
            return await response.read()


async def post_stream(
    session: aiohttp.ClientSession,
    url: str,
    *,
    body: bytes,
    headers: Mapping[str, str],
    timeout_s: float,
    provider: str,
    read: Callable[[AsyncIterator[SSEEvent]], AsyncGenerator[T, None]],
    idle_timeout_s: float | None = None,
) -> AsyncGenerator[T, None]:
    """POST a streaming request and yield what ``read`` parses from its SSE events.

    ``timeout_s`` bounds the wait for the headers and every gap between two reads;
    ``idle_timeout_s``, when set, is the tighter gap allowed once the body has begun (see
    `iter_sse_events`). Errors are mapped once (status and transport). A stream that is
    abandoned, stalls or breaks closes its socket instead of returning it half-read to the
    pool, which also stops the provider generating tokens nobody will read (and that would
    still be billed).
    """
    with map_aiohttp_errors(provider):
        async with session.post(
            url,
            data=body,
            headers=trace_headers(headers),
            timeout=stream_timeout(session, timeout_s),
        ) as response:
            finished = False
            try:
                await raise_for_status(response, provider=provider)
                events = iter_sse_events(response, provider=provider, idle_timeout_s=idle_timeout_s)
                async with aclosing(events), aclosing(read(events)) as items:
                    async for item in items:
                        yield item
                finished = True
            finally:
                if not finished:
                    response.close()
