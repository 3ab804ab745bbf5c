"""The OpenAI-wire side of `AnthropicClient`: a caller's Chat Completions body sent to the
Messages API and the answer (whole or streamed) brought back in OpenAI's shape, through the
pure translation in `agent.anthropic_translate`."""

from __future__ import annotations

import secrets
import time
from collections.abc import AsyncGenerator, AsyncIterator
from typing import Any

import msgspec

from agent.anthropic_translate import (
    StreamError,
    StreamTranslator,
    UntranslatableField,
    anthropic_to_openai_response,
    openai_to_anthropic_request,
)
from agent.errors import ProtocolError, ProviderError, UntranslatableRequest, UpstreamError
from agent.http import error_for_status
from agent.openai_wire import first_choice_delta, usage_from_dict
from agent.sse import SkippedChunks, SSEEvent
from agent.types import LLMRequest, LLMResponse, StreamChunk

ERROR_STATUS = {
    "invalid_request_error": 400,
    "authentication_error": 401,
    "permission_error": 403,
    "not_found_error": 404,
    "request_too_large": 413,
    "rate_limit_error": 429,
    "api_error": 500,
    "timeout_error": 504,
    "overloaded_error": 529,
}


def encode_request(
    request: LLMRequest, body: dict[str, Any], *, provider: str, max_tokens: int, stream: bool
) -> bytes:
    """The Messages body for a caller's Chat Completions ``body``; `UntranslatableRequest`
    names a field Anthropic cannot express."""
    try:
        translated = openai_to_anthropic_request(
            body, model=request.model, default_max_tokens=max_tokens, stream=stream
        )
    except UntranslatableField as exc:
        raise UntranslatableRequest(
            f"{exc} (model {request.model} is served by Anthropic)",
            provider=provider,
            param=exc.param,
        ) from exc
    return msgspec.json.encode(translated)


def decode_response(raw: bytes, request: LLMRequest, *, provider: str) -> LLMResponse:
    """The whole answer in OpenAI's shape."""
    try:
        message = msgspec.json.decode(raw)
    except msgspec.DecodeError as exc:
        raise ProtocolError(f"{provider} answered with invalid JSON", provider=provider) from exc
    if not isinstance(message, dict):
        raise ProtocolError(f"{provider} answered with a non-object", provider=provider)
    completion = anthropic_to_openai_response(
        message, completion_id=_completion_id(), created=int(time.time())
    )
    choice = completion["choices"][0]
    content = choice["message"].get("content")
    return LLMResponse(
        text=content if isinstance(content, str) else "",
        model=str(completion.get("model") or request.model),
        usage=usage_from_dict(completion.get("usage") or {}),
        provider=provider,
        finish_reason=choice.get("finish_reason"),
        completion=completion,
    )


async def read_stream(
    events: AsyncIterator[SSEEvent],
    request: LLMRequest,
    *,
    provider: str,
    skipped: SkippedChunks,
    native: bool = False,
) -> AsyncGenerator[StreamChunk, None]:
    """Anthropic's events as OpenAI chunks (usage chunk included: the core decides whether
    the caller sees it). An event whose data is not a JSON object is left to ``skipped``. A
    stream that ends without ``message_stop`` is finished as if it had come when a
    ``message_delta`` gave the ``stop_reason``; otherwise it raises `UpstreamError` (cut).

    With ``native`` (the caller speaks the Messages API) every event, ``ping`` included,
    comes as one chunk carrying the event itself (``native``) and its translation, if any.
    """
    translator = StreamTranslator(
        completion_id=_completion_id(), created=int(time.time()), include_usage=True
    )
    model = request.model
    stopped = False  # a message_delta said why the answer ended
    async for sse in events:
        data = skipped.object_or_none(sse.data)
        if data is None:
            continue
        if sse.event == "message_delta":
            stopped = stopped or _has_stop_reason(data)
        try:
            chunks = translator.feed(sse.event, data)
        except StreamError as exc:
            raise _stream_error(exc, provider) from exc
        if native:
            event = (sse.event, sse.data.encode())
            if not chunks:
                yield StreamChunk(model=model, native=event, more=sse.more)
            for index, chunk in enumerate(chunks):
                model = chunk.get("model") or model
                own = event if index == 0 else None
                yield msgspec.structs.replace(
                    _stream_chunk(chunk, model), native=own, more=sse.more
                )
        else:
            for chunk in chunks:
                model = chunk.get("model") or model
                yield _stream_chunk(chunk, model)
        if translator.finished:
            return
    if not stopped:
        raise UpstreamError(f"{provider} stream ended before message_stop", provider=provider)
    for chunk in translator.feed("message_stop", {"type": "message_stop"}):
        closing = _stream_chunk(chunk, chunk.get("model") or model)
        if native:  # the caller's stream ends as Anthropic's would have
            closing = msgspec.structs.replace(closing, native=("message_stop", _MESSAGE_STOP))
        yield closing


_MESSAGE_STOP = b'{"type":"message_stop"}'


def _has_stop_reason(data: dict[str, Any]) -> bool:
    delta = data.get("delta")
    return isinstance(delta, dict) and delta.get("stop_reason") is not None


def _stream_chunk(chunk: dict[str, Any], model: str) -> StreamChunk:
    text, finish = first_choice_delta(chunk)
    usage = chunk.get("usage")
    return StreamChunk(
        text=text,
        model=model,
        usage=usage_from_dict(usage) if isinstance(usage, dict) else None,
        finish_reason=finish,
        payload=chunk,
    )


def _stream_error(exc: StreamError, provider: str) -> ProviderError:
    status = ERROR_STATUS.get(exc.error_type, 500)
    return error_for_status(status, exc.message, provider=provider, code=exc.error_type)


def _completion_id() -> str:
    return f"chatcmpl-{secrets.token_hex(12)}"
