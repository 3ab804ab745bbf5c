"""The pure parts of agent/http.py: SSE decoding, Retry-After parsing, status mapping."""

from __future__ import annotations

import email.utils
import time

import pytest

from agent.errors import (
    AuthError,
    BadRequest,
    ContextLengthExceeded,
    ProviderError,
    RateLimited,
    UpstreamError,
    UpstreamTimeout,
)
from agent.http import error_for_status, retry_after_from_headers
from agent.sse import SSEDecoder, SSEEvent


class TestSSEDecoder:
    def test_events_split_across_chunks_and_crlf(self) -> None:
        decoder = SSEDecoder()
        assert decoder.feed(b"event: ping\r\ndata: {}\r") == []
        assert decoder.feed(b"\n\r\n: comment\n\ndata: a\nda") == [SSEEvent("ping", "{}")]
        assert decoder.feed(b"ta: b\nid: 7\n\n") == [SSEEvent("message", "a\nb")]

    def test_close_returns_an_unterminated_event(self) -> None:
        decoder = SSEDecoder()
        assert decoder.feed(b"data: [DONE]") == []
        assert decoder.close() == SSEEvent("message", "[DONE]")
        assert decoder.close() is None

    def test_refuses_an_endless_line(self) -> None:
        decoder = SSEDecoder()
        with pytest.raises(ValueError, match="longer than"):
            decoder.feed(b"data: " + b"x" * (5 * 1024 * 1024))


class TestRetryAfter:
    def test_milliseconds_win_over_seconds(self) -> None:
        assert retry_after_from_headers({"retry-after-ms": "250", "retry-after": "1"}) == 0.25

    def test_seconds_and_http_date(self) -> None:
        assert retry_after_from_headers({"retry-after": "2.5"}) == 2.5
        date = email.utils.formatdate(time.time() + 30, usegmt=True)
        assert retry_after_from_headers({"retry-after": date}) == pytest.approx(30, abs=2)

    def test_missing_or_garbage_is_none(self) -> None:
        assert retry_after_from_headers({}) is None
        assert retry_after_from_headers({"retry-after": "soon"}) is None


@pytest.mark.parametrize(
    ("status", "message", "code", "expected"),
    [
        (401, "bad key", None, AuthError),
        (403, "forbidden", None, AuthError),
        (408, "slow", None, UpstreamTimeout),
        (429, "slow down", None, RateLimited),
        (400, "whatever", "context_length_exceeded", ContextLengthExceeded),
        (400, "prompt is too long: 250000 tokens", "invalid_request_error", ContextLengthExceeded),
        (400, "missing field", None, BadRequest),
        (404, "no such model", None, BadRequest),
        (500, "boom", None, UpstreamError),
        (529, "Overloaded", None, UpstreamError),
    ],
)
def test_status_mapping_keeps_the_provider_message(
    status: int, message: str, code: str | None, expected: type[ProviderError]
) -> None:
    error = error_for_status(status, message, provider="p", code=code, retry_after=3.0)
    assert type(error) is expected
    assert message in str(error) and error.status == status and error.provider == "p"
    if isinstance(error, RateLimited):
        assert error.retry_after == 3.0
