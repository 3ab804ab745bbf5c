"""Errors in Anthropic's shape for ``/v1/messages``: ``{"type": "error", "error": {"type",
"message"}}`` with Anthropic's error types. The status, message and headers are the ones
the OpenAI-shaped ``/v1`` answers use (`server.openai_errors`), so every protocol reports a
failure with the same status; only the envelope and the type names differ."""

from __future__ import annotations

from typing import Final

import msgspec

from server.openai_errors import error_parts

PATH_PREFIX: Final = "/v1/messages"
"""Paths answered in Anthropic's shape."""


class ErrorDetail(msgspec.Struct, frozen=True):
    """Anthropic's error object."""

    type: str
    message: str


class ErrorEnvelope(msgspec.Struct, frozen=True, tag_field="type", tag="error"):
    error: ErrorDetail


_TYPE_BY_STATUS: Final = {
    400: "invalid_request_error",
    401: "authentication_error",
    402: "billing_error",
    403: "permission_error",
    404: "not_found_error",
    408: "timeout_error",
    413: "request_too_large",
    429: "rate_limit_error",
    504: "timeout_error",
    529: "overloaded_error",
}
_encoder: Final = msgspec.json.Encoder()


def error_type(status: int) -> str:
    """Anthropic's error ``type`` for an HTTP status."""
    if status in _TYPE_BY_STATUS:
        return _TYPE_BY_STATUS[status]
    return "api_error" if status >= 500 else "invalid_request_error"


def anthropic_error(exc: BaseException) -> tuple[int, bytes, dict[str, str]]:
    """(status, body, headers) of ``exc`` in Anthropic's shape."""
    status, message, param, _, headers = error_parts(exc)
    if isinstance(param, str) and param and param not in message:
        message = f"{param}: {message}"
    envelope = ErrorEnvelope(ErrorDetail(error_type(status), message))
    return status, _encoder.encode(envelope), headers


def error_event(exc: BaseException) -> bytes:
    """The ``error`` event that ends a Messages stream which failed after it started."""
    _, body, _ = anthropic_error(exc)
    return b"event: error\ndata: " + body + b"\n\n"
