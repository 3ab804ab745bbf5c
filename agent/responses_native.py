"""A caller's OpenAI Responses body (``protocol="responses"``) on its way to a provider.

A provider that speaks the Responses API (`OpenAIClient` with ``responses=True``) receives
the caller's body as sent (`native_body`: only ``model`` differs when routing or an alias
changed it) at ``{base_url}/responses``; its answer comes back as it sent it (``native``: the
whole Response's bytes, or every stream event) together with its Chat Completions
translation (`agent.responses_translate.native`), which the core assembles, caches and bills.
Any other provider gets the body translated to Chat Completions (`responses_as_chat`).
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterator
from typing import Any

import msgspec

from agent.core.request import InvalidParam
from agent.errors import ProtocolError, UntranslatableRequest, UpstreamError
from agent.http import error_for_status
from agent.openai_wire import usage_from_dict
from agent.responses_translate import responses_to_chat
from agent.responses_translate.native import (
    FINAL_EVENTS,
    NativeChunks,
    chat_usage,
    response_to_completion,
)
from agent.sse import SkippedChunks, SSEEvent
from agent.types import LLMRequest, LLMResponse, StreamChunk

PROTOCOL = "responses"


def is_responses(request: LLMRequest) -> bool:
    """Whether ``request`` carries a caller's Responses body."""
    return request.protocol == PROTOCOL and request.body is not None


def native_body(request: LLMRequest) -> bytes:
    """The bytes to send: exactly what the caller sent unless the model changed."""
    body = request.body or {}
    if request.raw is not None and body.get("model") == request.model:
        return request.raw
    return msgspec.json.encode({**body, "model": request.model})


def responses_as_chat(request: LLMRequest, *, provider: str) -> LLMRequest:
    """``request`` with its Responses body translated to a Chat Completions body (unchanged
    when it is not a Responses request)."""
    if not is_responses(request) or request.body is None:
        return request
    try:
        body = responses_to_chat(request.body).body
    except InvalidParam as exc:
        raise UntranslatableRequest(
            f"{exc} (model {request.model} is served by a provider without the Responses API)",
            provider=provider,
            param=exc.param or "input",
        ) from exc
    body["model"] = request.model
    return msgspec.structs.replace(request, body=body, raw=None, protocol="openai", headers=None)


def whole_answer(raw: bytes, request: LLMRequest, *, provider: str) -> LLMResponse:
    """A provider's whole Response: its bytes in ``native``, its chat translation."""
    try:
        response = msgspec.json.decode(raw)
    except msgspec.DecodeError as exc:
        raise ProtocolError(f"{provider} answered with invalid JSON", provider=provider) from exc
    if not isinstance(response, dict) or not isinstance(response.get("output"), list):
        raise ProtocolError(f"{provider} answered without output", provider=provider)
    usage = chat_usage(response.get("usage"))
    if usage is None:
        raise ProtocolError(f"{provider} answered without usage", provider=provider)
    completion = response_to_completion(response)
    message = completion["choices"][0]["message"]
    return LLMResponse(
        text=message["content"] or "",
        model=str(response.get("model") or request.model),
        usage=usage_from_dict(usage),
        provider=provider,
        finish_reason=completion["choices"][0]["finish_reason"],
        completion=completion,
        native=raw,
    )


async def read_stream(
    events: AsyncIterator[SSEEvent], request: LLMRequest, *, provider: str, skipped: SkippedChunks
) -> AsyncGenerator[StreamChunk, None]:
    """Every event as it came (``native``) with its chat chunk, if any. ``error`` and
    ``response.failed`` raise; a stream that ends before ``response.completed`` (or
    ``response.incomplete``) raises `UpstreamError` (cut)."""
    chunks = NativeChunks(request.model)
    model = request.model
    async for sse in events:
        event = skipped.object_or_none(sse.data)
        if event is None:
            continue
        kind = str(event.get("type") or sse.event)
        if kind in ("error", "response.failed"):
            raise _stream_error(event, provider)
        payload = chunks.chunk(event)
        model = str((payload or {}).get("model") or model)
        usage = (payload or {}).get("usage")
        choices = (payload or {}).get("choices") or [{}]
        yield StreamChunk(
            text=str(choices[0].get("delta", {}).get("content") or ""),
            model=model,
            usage=usage_from_dict(usage) if isinstance(usage, dict) else None,
            finish_reason=choices[0].get("finish_reason"),
            payload=payload,
            native=(sse.event, sse.data.encode()),
            more=sse.more,
        )
        if kind in FINAL_EVENTS:
            return
    raise UpstreamError(f"{provider} stream ended before response.completed", provider=provider)


def _stream_error(event: dict[str, Any], provider: str) -> Exception:
    error = event.get("error")
    if not isinstance(error, dict):
        response = event.get("response")
        error = (response or {}).get("error") if isinstance(response, dict) else None
    error = error if isinstance(error, dict) else {}
    code = error.get("code")
    message = str(error.get("message") or "the provider's Responses stream failed")
    return error_for_status(
        500, message, provider=provider, code=code if isinstance(code, str) else None
    )
