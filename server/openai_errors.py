"""Errors in OpenAI's shape for the ``/v1`` endpoints: ``{"error": {"message", "type",
"param", "code"}}``, the status OpenAI would use, and the provider's own status and words
when a provider refused (never rewritten into ours). Used by the app's one error handler.
"""

from __future__ import annotations

import logging
from typing import Final

import msgspec

from agent.core.request import InvalidParam
from agent.errors import (
    AuthError,
    BadRequest,
    CircuitOpen,
    ProviderError,
    RateLimited,
    StreamInterrupted,
    UpstreamTimeout,
)
from server.errors import error_for_exception, status_of

log = logging.getLogger("frugal.server")

# Retrying these cannot help, so tell the SDKs (which retry every 5xx and 429) not to.
_NO_RETRY_CODES: Final = frozenset({"budget_exceeded", "upstream_auth"})


class ErrorDetail(msgspec.Struct, frozen=True):
    """OpenAI's error object."""

    message: str
    type: str
    param: str | None = None
    code: str | None = None


class ErrorEnvelope(msgspec.Struct, frozen=True):
    error: ErrorDetail


_encoder: Final = msgspec.json.Encoder()


def error_type(status: int) -> str:
    """OpenAI's error ``type`` for an HTTP status."""
    if status == 401:
        return "authentication_error"
    if status == 403:
        return "permission_error"
    if status == 429:
        return "rate_limit_error"
    if status >= 500:
        return "server_error" if status != 503 else "service_unavailable_error"
    return "invalid_request_error"


def error_parts(exc: BaseException) -> tuple[int, str, str | None, str, dict[str, str]]:
    """(status, message, param, code, headers) of ``exc``, whatever the protocol's envelope."""
    code, message, headers = error_for_exception(exc)
    status = status_of(code)
    if status == 422:
        status = 400  # OpenAI (and Anthropic) report every invalid request as 400
    param = getattr(exc, "param", None)
    if isinstance(exc, InvalidParam) and exc.reason != "invalid_request":
        code = exc.reason
    if isinstance(exc, ProviderError):
        status, message, code = _provider_error(exc, status, message, code)
    if code == "internal_error":
        log.error("unhandled error on a /v1 endpoint", exc_info=exc)
    if code in _NO_RETRY_CODES:
        headers = {**headers, "x-should-retry": "false"}
    return status, message, param, code, headers


def openai_error(exc: BaseException) -> tuple[int, bytes, dict[str, str]]:
    """(status, body, headers) of ``exc`` in OpenAI's shape."""
    status, message, param, code, headers = error_parts(exc)
    body = _encoder.encode(ErrorEnvelope(ErrorDetail(message, error_type(status), param, code)))
    return status, body, headers


def error_event(exc: BaseException) -> bytes:
    """The ``data:`` line that ends a stream which failed after it started."""
    _, body, _ = openai_error(exc)
    return b"data: " + body + b"\n\n"


def _provider_error(
    exc: ProviderError, status: int, message: str, code: str
) -> tuple[int, str, str]:
    cause = exc.cause if isinstance(exc, StreamInterrupted) and exc.cause else exc
    words = cause.upstream_message or message
    upstream_code = cause.upstream_code or code
    if isinstance(cause, RateLimited):
        return 429, words, upstream_code
    if isinstance(cause, AuthError):
        # Our key was refused: a gateway problem, not the caller's credentials.
        return 502, "the provider refused the gateway's credentials", code
    if isinstance(cause, BadRequest):
        return cause.status or 400, words, upstream_code
    if isinstance(cause, UpstreamTimeout):
        return 504, words, code
    if isinstance(cause, CircuitOpen):
        return 503, message, code
    if cause.status is not None and cause.status >= 500:
        return cause.status, words, upstream_code
    return 502, words, upstream_code
