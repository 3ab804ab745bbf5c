"""Server-sent events from a provider: a transport-free decoder (`SSEDecoder`), the reader
over an aiohttp response with its stall guard (`iter_sse_events`), and the tolerance for
malformed stream chunks (`SkippedChunks`)."""

from __future__ import annotations

import logging
from collections.abc import AsyncGenerator, Callable
from typing import Any, TypeVar

import aiohttp
import anyio
import msgspec

from agent.errors import (
    ProtocolError,
    UpstreamTimeout,
)

# An SSE line longer than this is not an LLM delta: refuse it rather than buffer forever.
MAX_SSE_LINE_BYTES = 4 * 1024 * 1024

_log = logging.getLogger(__name__)
_any_decoder = msgspec.json.Decoder()
T = TypeVar("T")


class SSEEvent(msgspec.Struct, frozen=True):
    """One server-sent event: its ``event`` name (``message`` by default) and joined data.
    ``more`` is true when another event of the same network read follows at once (a relay
    may then write them out together)."""

    event: str
    data: str
    more: bool = False


class SSEDecoder:
    """Incremental SSE parser: feed it bytes as they arrive, get whole events back.

    Lines end with LF or CRLF; ``id``/``retry`` fields and ``:`` comments are ignored.
    """

    def __init__(self, *, comments: bool = False) -> None:
        # ``comments``: report ": text" comment lines as events named ``comment``.
        self._comments = comments
        self._buffer = bytearray()
        self._event = ""
        self._data: list[str] = []

    def feed(self, chunk: bytes) -> list[SSEEvent]:
        """Consume ``chunk`` and return the events it completed (raises `ValueError` on junk)."""
        self._buffer += chunk
        events: list[SSEEvent] = []
        while (newline := self._buffer.find(b"\n")) >= 0:
            raw = bytes(self._buffer[:newline])
            del self._buffer[: newline + 1]
            event = self._line(raw.removesuffix(b"\r").decode("utf-8"))
            if event is not None:
                events.append(event)
        if len(self._buffer) > MAX_SSE_LINE_BYTES:
            raise ValueError(f"SSE line longer than {MAX_SSE_LINE_BYTES} bytes")
        return events

    def close(self) -> SSEEvent | None:
        """End of stream: return an event left without its blank line (lenient), if any."""
        if self._buffer:
            self._line(bytes(self._buffer).removesuffix(b"\r").decode("utf-8"))
            self._buffer.clear()
        return self._dispatch()

    def _line(self, line: str) -> SSEEvent | None:
        if not line:
            return self._dispatch()
        if line.startswith(":"):
            if self._comments and line.startswith(": "):
                return SSEEvent(event="comment", data=line[2:])
            return None
        name, _, value = line.partition(":")
        value = value.removeprefix(" ")
        if name == "data":
            self._data.append(value)
        elif name == "event":
            self._event = value
        return None

    def _dispatch(self) -> SSEEvent | None:
        if not self._data:
            self._event = ""
            return None
        event = SSEEvent(event=self._event or "message", data="\n".join(self._data))
        self._event = ""
        self._data = []
        return event


async def iter_sse_events(
    response: aiohttp.ClientResponse,
    *,
    provider: str,
    comments: bool = False,
    idle_timeout_s: float | None = None,
) -> AsyncGenerator[SSEEvent, None]:
    """Yield the SSE events of ``response`` as they arrive; undecodable bytes → `ProtocolError`.

    ``idle_timeout_s`` bounds the silence between two reads once the body has begun: a
    stream quiet for longer raises `UpstreamTimeout` ("stalled"). The wait for the first
    byte is left to the request's own timeouts (a first-token limit belongs to the caller).
    Transport failures surface as aiohttp exceptions: wrap the caller in `map_aiohttp_errors`.
    """
    decoder = SSEDecoder(comments=comments)
    idle: float | None = None  # no stall guard before the first byte
    try:
        while chunk := await _read_some(response.content, idle, provider):
            idle = idle_timeout_s
            events = decoder.feed(chunk)
            last_index = len(events) - 1
            for index, event in enumerate(events):
                yield event if index == last_index else SSEEvent(event.event, event.data, True)
        last = decoder.close()
    except ValueError as exc:  # UnicodeDecodeError included
        raise ProtocolError(
            f"{provider} sent a malformed stream: {exc}", provider=provider
        ) from exc
    if last is not None:
        yield last


async def _read_some(
    content: aiohttp.StreamReader, idle_timeout_s: float | None, provider: str
) -> bytes:
    # What one network read brought (b"" at the end of the body). A scope rather than
    # aiohttp's sock_read, which would also cut the wait for the response headers.
    if idle_timeout_s is None:
        return await content.readany()
    with anyio.move_on_after(idle_timeout_s):
        return await content.readany()
    raise UpstreamTimeout(
        f"{provider} stream stalled: no data for {idle_timeout_s:g} s", provider=provider
    )


class SkippedChunks:
    """One stream's malformed ``data:`` lines (not JSON, or JSON but not an object).

    Each is counted and skipped rather than failing the stream: a provider's stray line should
    not cost the caller the answer. The first is logged at WARNING, naming the provider but
    not the content (it may hold a user's text); ``on_skip`` is called for every one (a
    client's running counter, for metrics). Framing faults stay fatal in `iter_sse_events`.
    """

    def __init__(self, provider: str, on_skip: Callable[[], None]) -> None:
        self._provider = provider
        self._on_skip = on_skip
        self.count = 0

    def object_or_none(self, data: str) -> dict[str, Any] | None:
        """``data`` as a JSON object, or None (counted) when it is not one."""
        value = _decode_any(data)
        if isinstance(value, dict):
            return value
        self._skip()
        return None

    def typed_or_none(self, decoder: msgspec.json.Decoder[T], data: str) -> T | None:
        """``data`` through ``decoder``, or None (counted) when it is not a JSON object.

        A JSON object of the wrong shape still raises `msgspec.ValidationError`: that is a
        provider speaking another protocol, not a stray line.
        """
        try:
            return decoder.decode(data)
        except msgspec.ValidationError:
            if isinstance(_decode_any(data), dict):
                raise
        except msgspec.DecodeError:
            pass
        self._skip()
        return None

    def _skip(self) -> None:
        if not self.count:
            _log.warning("%s sent a malformed stream chunk; skipping it", self._provider)
        self.count += 1
        self._on_skip()


def _decode_any(data: str) -> object:
    try:
        return _any_decoder.decode(data)
    except msgspec.DecodeError:
        return None
