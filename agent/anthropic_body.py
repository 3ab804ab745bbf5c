"""The OpenAI-wire side of `AnthropicClient`: a caller's Chat Completions body sent to the
Messages API and the answer (whole or streamed) brought back in OpenAI's shape, through the
pure translation in `agent.anthropic_translate`."""

from __future__ import annotations

import secrets
import time
from collections.abc import AsyncGenerator
from contextlib import aclosing
from typing import Any

import aiohttp
import msgspec

from agent.anthropic_translate import (
    StreamError,
    StreamTranslator,
    UntranslatableField,
    anthropic_to_openai_response,
    openai_to_anthropic_request,
)
from agent.errors import ProtocolError, ProviderError, UntranslatableRequest, UpstreamError
from agent.http import error_for_status, iter_sse_events
from agent.openai_wire import usage_from_dict
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
    response: aiohttp.ClientResponse, request: LLMRequest, *, provider: str
) -> AsyncGenerator[StreamChunk, None]:
    """Anthropic's events as OpenAI chunks (usage chunk included: the core decides whether
    the caller sees it). A stream that ends before ``message_stop`` raises `UpstreamError`."""
    translator = StreamTranslator(
        completion_id=_completion_id(), created=int(time.time()), include_usage=True
    )
    model = request.model
    async with aclosing(iter_sse_events(response, provider=provider)) as events:
        async for sse in events:
            try:
                data = msgspec.json.decode(sse.data)
                chunks = translator.feed(sse.event, data) if isinstance(data, dict) else []
            except msgspec.DecodeError as exc:
                raise ProtocolError(
                    f"{provider} sent an undecodable event", provider=provider
                ) from exc
            except StreamError as exc:
                raise _stream_error(exc, provider) from exc
            for chunk in chunks:
                model = chunk.get("model") or model
                yield _stream_chunk(chunk, model)
            if translator.finished:
                return
    raise UpstreamError(f"{provider} stream ended before message_stop", provider=provider)


def _stream_chunk(chunk: dict[str, Any], model: str) -> StreamChunk:
    text, finish = "", None
    for choice in chunk.get("choices") or ():
        delta = choice.get("delta") or {}
        text = delta.get("content") or ""
        finish = choice.get("finish_reason")
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
