"""`AnthropicClient`: the `LLMClient` for Anthropic's Messages API."""

from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterator, Mapping
from contextlib import aclosing
from typing import Any

import aiohttp
import msgspec

from agent import anthropic_body
from agent import anthropic_wire as wire
from agent.errors import ProviderError, UpstreamError
from agent.http import (
    error_for_status,
    map_aiohttp_errors,
    post_json,
    post_stream,
)
from agent.sse import SkippedChunks, SSEEvent
from agent.types import LLMRequest, LLMResponse, StreamChunk

# The HTTP status Anthropic uses for each error type, so stream `error` events map like bodies.
_ERROR_STATUS = anthropic_body.ERROR_STATUS
# Stop reasons in OpenAI's words, so callers see one vocabulary whichever provider answered.
_FINISH_REASON = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "max_tokens": "length",
    "tool_use": "tool_calls",
}


class AnthropicClient:
    """Messages API calls over a shared aiohttp session.

    Requests go to ``{base_url}/v1/messages``. The system prompt is sent as one text block
    with ``cache_control: ephemeral`` so Anthropic caches the stable prefix; ``max_tokens``
    (required by Anthropic) falls back to ``default_max_tokens``.

    Usage mapping: Anthropic's ``input_tokens`` counts only uncached input, so
    ``Usage.prompt = input_tokens + cache_read_input_tokens + cache_creation_input_tokens``,
    ``cached_prompt = cache_read_input_tokens``, ``cache_write = cache_creation_input_tokens``
    and ``completion = output_tokens``. Stop reasons are reported in OpenAI's vocabulary
    (``end_turn`` → ``stop``, ``max_tokens`` → ``length``). The session is borrowed.

    ``timeout_s`` bounds a whole JSON call and the gap between two reads of a stream;
    ``idle_timeout_s``, when set, is the tighter gap a stream may fall silent once its body
    has begun (`UpstreamTimeout`, "stalled"). ``skipped_chunks`` counts the malformed stream
    events skipped so far (see `stream`).
    """

    def __init__(
        self,
        session: aiohttp.ClientSession,
        *,
        base_url: str = "https://api.anthropic.com",
        api_key: str,
        timeout_s: float = 60.0,
        name: str = "anthropic",
        api_version: str = "2023-06-01",
        extra_headers: Mapping[str, str] | None = None,
        default_max_tokens: int = 1024,
        idle_timeout_s: float | None = None,
    ) -> None:
        self._session = session
        self._url = base_url.rstrip("/") + "/v1/messages"
        self._timeout_s = timeout_s
        self._idle_timeout_s = idle_timeout_s
        self.skipped_chunks = 0
        self._name = name
        self._default_max_tokens = default_max_tokens
        self._headers = {
            "x-api-key": api_key,
            "anthropic-version": api_version,
            "content-type": "application/json",
            **(extra_headers or {}),
        }

    @property
    def name(self) -> str:
        return self._name

    async def _post(self, body: bytes, headers: Mapping[str, str] | None = None) -> bytes:
        # One whole-body call to the provider; errors mapped once (`post_json`).
        return await post_json(
            self._session,
            self._url,
            body=body,
            headers=self._headers_for(headers),
            timeout_s=self._timeout_s,
            provider=self._name,
        )

    def _headers_for(self, forwarded: Mapping[str, str] | None) -> dict[str, str]:
        # The caller's anthropic-* headers (beta features, version) ride on a native call.
        return {**self._headers, **forwarded} if forwarded else self._headers

    async def count_tokens(self, body: bytes, headers: Mapping[str, str] | None = None) -> bytes:
        """Anthropic's answer to ``POST /v1/messages/count_tokens`` for a Messages ``body``
        (sent as is); raises a `ProviderError` subclass on any failure."""
        return await post_json(
            self._session,
            self._url + "/count_tokens",
            body=body,
            headers=self._headers_for(headers),
            timeout_s=self._timeout_s,
            provider=self._name,
        )

    async def generate(self, request: LLMRequest) -> LLMResponse:
        """Return the whole answer; raises a `ProviderError` subclass on any failure.

        A request carrying a caller's OpenAI ``body`` is translated to the Messages API and
        answered with the whole completion in OpenAI's shape (`agent.anthropic_body`). A
        caller's Messages body (``protocol="anthropic"``) is sent as is (`native_body`) and
        answered with Anthropic's bytes in ``native`` and their OpenAI translation.
        """
        if request.body is not None and request.protocol == "anthropic":
            raw = await self._post(native_body(request, request.body), request.headers)
            response = anthropic_body.decode_response(raw, request, provider=self._name)
            return msgspec.structs.replace(response, native=raw)
        if request.body is not None:
            body = anthropic_body.encode_request(
                request,
                request.body,
                provider=self._name,
                max_tokens=self._default_max_tokens,
                stream=False,
            )
            raw = await self._post(body)
            return anthropic_body.decode_response(raw, request, provider=self._name)
        body = wire.encoder.encode(self._to_wire(request, stream=False))
        raw = await self._post(body)
        with map_aiohttp_errors(self._name):  # an undecodable body is a ProtocolError
            message = wire.message_decoder.decode(raw)
        return LLMResponse(
            text="".join(block.text for block in message.content if block.type == "text"),
            model=message.model or request.model,
            usage=message.usage.to_usage(),
            provider=self._name,
            finish_reason=_finish_reason(message.stop_reason),
        )

    async def stream(self, request: LLMRequest) -> AsyncGenerator[StreamChunk, None]:
        """Yield a usage chunk, text chunks, a finish-reason chunk, then the final usage chunk.

        The first usage chunk is ``message_start``'s: the exact input split (plain, cache read,
        cache write) with a provisional output count, so a stream cut mid-way can still bill
        the input as the provider counted it; the last usage chunk is the final accounting.
        An ``error`` event raises the matching `ProviderError`. A stream that ends without
        ``message_stop`` is complete if a ``message_delta`` brought its ``stop_reason`` (usage
        from ``message_start`` and ``message_delta``) and otherwise raises `UpstreamError`
        (cut). An event whose data is not a JSON object is skipped and counted in
        ``skipped_chunks``. A stream silent for longer than ``idle_timeout_s`` raises
        `UpstreamTimeout`. Closing the iterator early closes the upstream connection. A caller's
        Messages body is sent as is and every event comes back with its translation.
        """
        native = request.body is not None and request.protocol == "anthropic"
        if native and request.body is not None:
            body = native_body(request, request.body)
            read = self._read_native
        elif request.body is not None:
            body = anthropic_body.encode_request(
                request,
                request.body,
                provider=self._name,
                max_tokens=self._default_max_tokens,
                stream=True,
            )
            read = self._read_translated
        else:
            body = wire.encoder.encode(self._to_wire(request, stream=True))
            read = self._read_stream
        chunks = post_stream(
            self._session,
            self._url,
            body=body,
            headers=self._headers_for(request.headers if native else None),
            timeout_s=self._timeout_s,
            idle_timeout_s=self._idle_timeout_s,
            provider=self._name,
            read=lambda events: read(events, request),
        )
        async with aclosing(chunks):
            async for chunk in chunks:
                yield chunk

    def _count_skipped(self) -> None:
        self.skipped_chunks += 1

    def _read_translated(
        self, events: AsyncIterator[SSEEvent], request: LLMRequest
    ) -> AsyncGenerator[StreamChunk, None]:
        skipped = SkippedChunks(self._name, self._count_skipped)
        return anthropic_body.read_stream(events, request, provider=self._name, skipped=skipped)

    def _read_native(
        self, events: AsyncIterator[SSEEvent], request: LLMRequest
    ) -> AsyncGenerator[StreamChunk, None]:
        skipped = SkippedChunks(self._name, self._count_skipped)
        return anthropic_body.read_stream(
            events, request, provider=self._name, skipped=skipped, native=True
        )

    async def _read_stream(
        self, events: AsyncIterator[SSEEvent], request: LLMRequest
    ) -> AsyncGenerator[StreamChunk, None]:
        model = request.model
        usage = wire.WireUsage()
        stopped = False  # a message_delta said why the answer ended
        skipped = SkippedChunks(self._name, self._count_skipped)
        async for sse in events:
            if sse.event not in wire.KNOWN_EVENTS:
                continue
            match skipped.typed_or_none(wire.event_decoder, sse.data):
                case wire.MessageStart(message=message):
                    model = message.model or model
                    usage = message.usage
                    yield StreamChunk(model=model, usage=usage.to_usage())
                case wire.ContentBlockDelta(delta=delta) if delta.type == "text_delta":
                    if delta.text:
                        yield StreamChunk(text=delta.text, model=model)
                case wire.MessageDelta(delta=stop, usage=later):
                    usage = usage.merged(later)
                    stopped = stopped or stop.stop_reason is not None
                    yield StreamChunk(model=model, finish_reason=_finish_reason(stop.stop_reason))
                case wire.MessageStop():
                    break
                case wire.ErrorEvent(error=error):
                    raise self._stream_error(error)
                case _:
                    pass  # skipped junk, ping, block start/stop, non-text deltas
        else:
            if not stopped:
                raise UpstreamError(
                    f"{self._name} stream ended before message_stop", provider=self._name
                )
        yield StreamChunk(model=model, usage=usage.to_usage())

    def _stream_error(self, error: wire.ErrorDetail) -> ProviderError:
        status = _ERROR_STATUS.get(error.type, 500)
        return error_for_status(status, error.message, provider=self._name, code=error.type)

    def _to_wire(self, request: LLMRequest, *, stream: bool) -> wire.MessagesRequest:
        # Anthropic has no "system" role in messages: fold such turns into the system block.
        system_parts = [request.system] if request.system else []
        system_parts += [m.content for m in request.messages if m.role == "system"]
        messages = [
            # No tool_use ids in our Message, so tool output travels as user text.
            wire.WireMessage(
                role="assistant" if m.role == "assistant" else "user", content=m.content
            )
            for m in request.messages
            if m.role != "system"
        ]
        system = (
            [wire.TextBlock(text="\n\n".join(system_parts), cache_control=wire.CacheControl())]
            if system_parts
            else None
        )
        return wire.MessagesRequest(
            model=request.model,
            max_tokens=request.max_tokens or self._default_max_tokens,
            messages=messages,
            system=system,
            temperature=request.temperature,
            metadata=wire.Metadata(user_id=request.user) if request.user else None,
            stream=stream,
        )


def native_body(request: LLMRequest, body: dict[str, Any]) -> bytes:
    """The bytes to send for a caller's Messages ``body``: exactly what the caller sent,
    unless routing or an alias changed the model (then only ``model`` differs)."""
    if request.raw is not None and body.get("model") == request.model:
        return request.raw
    return msgspec.json.encode({**body, "model": request.model})


def _finish_reason(stop_reason: str | None) -> str | None:
    if stop_reason is None:
        return None
    return _FINISH_REASON.get(stop_reason, stop_reason)
