"""Errors become HTTP here, in one table and one handler.

Every error body is ``{"error": {"code": ..., "message": ...}}`` with a stable ``code``.
Only unexpected exceptions are logged with a traceback, and their details never reach the client.
"""

from __future__ import annotations

import logging
import math

import msgspec
from starlette.responses import Response

from agent.errors import AgentError, BudgetExceeded, InvalidRequest, ProviderError, RateLimited
from cache.errors import CacheError
from metrics.rate_limit import RateLimitExceeded

log = logging.getLogger("frugal.server")

# code -> HTTP status. Provider failures that survive retries and fallback are a 503 (the
# service is degraded) except the ones the caller caused.
STATUS_BY_CODE: dict[str, int] = {
    "invalid_json": 400,
    "invalid_request": 422,
    # `InvalidRequest.reason` values, reported as the code so clients can tell them apart
    "no_messages": 422,
    "last_not_user": 422,
    "empty_content": 422,
    "too_many_messages": 422,
    "prompt_too_long": 413,
    "bad_temperature": 422,
    "bad_max_tokens": 422,
    "max_tokens_too_large": 422,
    "bad_cache_mode": 422,
    # the batch lane (files and batches): a refused upload or batch, a cancel too late
    "invalid_batch": 400,
    "batch_conflict": 409,
    "unknown_field": 422,
    "body_too_large": 413,
    "request_timeout": 408,
    # nginx's "client closed request": nobody reads it, but the log and metrics say caller
    "client_closed_request": 499,
    "unauthorized": 401,
    "forbidden": 403,
    "not_found": 404,
    "model_not_found": 404,
    "invalid_model": 400,
    "method_not_allowed": 405,
    "rate_limited": 429,
    "budget_exceeded": 503,
    "budget_unavailable": 503,
    "upstream_rate_limited": 503,
    "upstream_timeout": 503,
    "upstream_error": 503,
    "upstream_protocol_error": 503,
    "upstream_auth": 503,
    "circuit_open": 503,
    "provider_error": 503,
    "upstream_bad_request": 400,
    "context_length_exceeded": 400,
    "stream_interrupted": 503,
    "embedding_failed": 503,
    "store_unavailable": 503,
    "iteration_limit_exceeded": 422,
    "prompt_injection_blocked": 400,
    "internal_error": 500,
}


class ErrorBody(msgspec.Struct):
    code: str
    message: str


class ErrorEnvelope(msgspec.Struct):
    error: ErrorBody


class APIError(Exception):
    """An error the API reports to the caller as-is (bad input, auth, limits)."""

    def __init__(self, code: str, message: str, *, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.headers = headers or {}

    @property
    def status(self) -> int:
        """The HTTP status it is answered with (the one `error_response` sends)."""
        return status_of(self.code)


_encoder = msgspec.json.Encoder()


def status_of(code: str) -> int:
    """The HTTP status of an error ``code``; a code missing from the table is our bug: 500."""
    return STATUS_BY_CODE.get(code, 500)


def error_response(code: str, message: str, headers: dict[str, str] | None = None) -> Response:
    """A JSON error response with the status the table gives ``code``."""
    body = _encoder.encode(ErrorEnvelope(ErrorBody(code=code, message=message)))
    return Response(
        body,
        status_code=status_of(code),
        media_type="application/json",
        headers=headers,
    )


def error_for_exception(exc: BaseException) -> tuple[str, str, dict[str, str]]:
    """Translate any exception into (code, client-safe message, headers)."""
    if isinstance(exc, APIError):
        return exc.code, exc.message, exc.headers
    if isinstance(exc, RateLimitExceeded):  # our own inbound limit
        return exc.code, str(exc), dict(exc.headers)
    if isinstance(exc, RateLimited):
        headers = {"Retry-After": str(max(1, round(exc.retry_after)))} if exc.retry_after else {}
        return exc.code, f"provider rate limit: {exc}", headers
    if isinstance(exc, ProviderError):
        return exc.code, f"{exc.provider or 'provider'}: {exc}", {}
    if isinstance(exc, BudgetExceeded):
        retry_after = getattr(exc, "retry_after_s", None)  # set by the budget guard's refusals
        headers = {"Retry-After": str(max(1, math.ceil(retry_after)))} if retry_after else {}
        return exc.code, str(exc), headers
    if isinstance(exc, InvalidRequest):
        code = exc.reason if exc.reason in STATUS_BY_CODE else exc.code
        return code, str(exc), dict(getattr(exc, "headers", None) or {})
    if isinstance(exc, AgentError | CacheError):
        return exc.code, str(exc), {}
    return "internal_error", "internal error; see the server log for the request id", {}


def response_for_exception(exc: BaseException, *, request_id: str | None = None) -> Response:
    """The JSON error response for ``exc``; unexpected errors are logged with a traceback."""
    code, message, headers = error_for_exception(exc)
    if code == "internal_error":
        log.error("unhandled error (request %s)", request_id, exc_info=exc)
    if request_id:
        headers = {**headers, "x-request-id": request_id}
    return error_response(code, message, headers)
