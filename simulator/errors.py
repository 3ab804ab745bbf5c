"""Error bodies in each provider's exact shape, and the status of each simulated failure."""

from __future__ import annotations

from typing import Literal

import msgspec
from aiohttp import web

Flavour = Literal["openai", "anthropic"]
ErrorKind = Literal[
    "401", "429", "500", "context_length", "prefill_refused", "bad_request", "overloaded"
]

ANTHROPIC_CONTEXT_LIMIT = 200_000
OPENAI_CONTEXT_LIMIT = 128_000


class OpenAIErrorDetail(msgspec.Struct):
    message: str
    type: str
    param: str | None = None
    code: str | None = None


class OpenAIError(msgspec.Struct):
    error: OpenAIErrorDetail


class AnthropicErrorDetail(msgspec.Struct):
    type: str
    message: str


class AnthropicError(msgspec.Struct, tag_field="type", tag="error"):
    error: AnthropicErrorDetail


# kind -> (status, OpenAI type, OpenAI code, Anthropic type, default message)
_TABLE: dict[ErrorKind, tuple[int, str, str | None, str, str]] = {
    "401": (
        401,
        "invalid_request_error",
        "invalid_api_key",
        "authentication_error",
        "Incorrect API key provided.",
    ),
    "429": (
        429,
        "requests",
        "rate_limit_exceeded",
        "rate_limit_error",
        "Rate limit reached for requests (simulated).",
    ),
    "500": (
        500,
        "server_error",
        None,
        "api_error",
        "The server had an error while processing your request (simulated).",
    ),
    "overloaded": (529, "server_error", None, "overloaded_error", "Overloaded (simulated)."),
    "context_length": (
        400,
        "invalid_request_error",
        "context_length_exceeded",
        "invalid_request_error",
        "The prompt is too long.",
    ),
    "prefill_refused": (
        400,
        "invalid_request_error",
        None,
        "invalid_request_error",
        "This model does not support assistant message prefill. The conversation must end"
        " with a user message.",
    ),
    "bad_request": (
        400,
        "invalid_request_error",
        None,
        "invalid_request_error",
        "Invalid request.",
    ),
}

_encoder = msgspec.json.Encoder()


def error_body(flavour: Flavour, kind: ErrorKind, message: str | None = None) -> bytes:
    """The JSON error body ``flavour`` sends for ``kind``."""
    _, openai_type, openai_code, anthropic_type, default = _TABLE[kind]
    text = message or default
    if flavour == "anthropic":
        return _encoder.encode(AnthropicError(AnthropicErrorDetail(anthropic_type, text)))
    param = "messages" if kind == "context_length" else None
    return _encoder.encode(OpenAIError(OpenAIErrorDetail(text, openai_type, param, openai_code)))


def error_response(
    flavour: Flavour,
    kind: ErrorKind,
    message: str | None = None,
    *,
    retry_after_s: float | None = None,
) -> web.Response:
    """An error response; 429s carry ``Retry-After`` (and OpenAI's ``retry-after-ms``)."""
    status = _TABLE[kind][0]
    headers: dict[str, str] = {}
    if kind == "429" and retry_after_s is not None:
        # Fractional seconds are allowed so tests can use short waits; clients parse floats.
        headers["Retry-After"] = f"{retry_after_s:g}"
        if flavour == "openai":
            headers["retry-after-ms"] = str(round(retry_after_s * 1000))
    return web.Response(
        status=status,
        body=error_body(flavour, kind, message),
        content_type="application/json",
        headers=headers,
    )


def context_length_message(flavour: Flavour, prompt_tokens: int, limit: int | None = None) -> str:
    """The provider's wording for a prompt that doesn't fit a ``limit``-token window.

    Without ``limit``, the provider's usual window (128k for OpenAI, 200k for Anthropic).
    """
    if flavour == "anthropic":
        window = limit or ANTHROPIC_CONTEXT_LIMIT
        return f"prompt is too long: {prompt_tokens} tokens > {window} maximum"
    return (
        f"This model's maximum context length is {limit or OPENAI_CONTEXT_LIMIT} tokens."
        " However, your"
        f" messages resulted in {prompt_tokens} tokens. Please reduce the length of the messages."
    )
