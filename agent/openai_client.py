"""`OpenAIClient`: the `LLMClient` for OpenAI's Chat Completions API (and compatible servers)."""

from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterator, Mapping
from contextlib import aclosing
from typing import Any

import aiohttp
import msgspec

from agent import openai_wire as wire
from agent.anthropic_inbound import as_chat_request
from agent.errors import ProtocolError, UpstreamError
from agent.http import (
    error_for_status,
    map_aiohttp_errors,
    post_json,
    post_stream,
)
from agent.sse import SkippedChunks, SSEEvent
from agent.tokens import count_message_tokens, count_text_tokens
from agent.types import LLMRequest, LLMResponse, StreamChunk, Usage

_DONE = "[DONE]"


class OpenAIClient:
    """Chat completions over a shared aiohttp session.

    ``base_url`` includes the API version, as in the OpenAI SDK: ``https://api.openai.com/v1``
    (requests go to ``{base_url}/chat/completions``). ``timeout_s`` bounds a whole JSON call and
    the gap between two reads of a stream; ``idle_timeout_s``, when set, is the tighter gap a
    stream may fall silent once its body has begun (`UpstreamTimeout`, "stalled").
    ``extra_headers`` are sent with every request. The session is borrowed: the client never
    closes it.

    ``skipped_chunks`` counts the malformed stream chunks skipped so far (see `stream`).
    """

    def __init__(
        self,
        session: aiohttp.ClientSession,
        *,
        base_url: str,
        api_key: str,
        timeout_s: float = 60.0,
        name: str = "openai",
        extra_headers: Mapping[str, str] | None = None,
        idle_timeout_s: float | None = None,
    ) -> None:
        self._session = session
        self._url = base_url.rstrip("/") + "/chat/completions"
        self._timeout_s = timeout_s
        self._idle_timeout_s = idle_timeout_s
        self.skipped_chunks = 0
        self._name = name
        self._headers = {
            "authorization": f"Bearer {api_key}",
            "content-type": "application/json",
            **(extra_headers or {}),
        }

    @property
    def name(self) -> str:
        return self._name

    async def _post(self, body: bytes) -> bytes:
        # One whole-body call to the provider; errors mapped once (`post_json`).
        return await post_json(
            self._session,
            self._url,
            body=body,
            headers=self._headers,
            timeout_s=self._timeout_s,
            provider=self._name,
        )

    async def generate(self, request: LLMRequest) -> LLMResponse:
        """Return the whole answer; raises a `ProviderError` subclass on any failure.

        A request carrying the caller's wire ``body`` is sent as that body (its exact bytes
        when the model is unchanged) and answered with the provider's whole completion. A
        Messages body (``protocol="anthropic"``) is translated first (`as_chat_request`).
        """
        request = as_chat_request(request, provider=self._name)
        if request.body is not None:
            return await self._generate_body(request, request.body)
        body = wire.encoder.encode(_to_wire(request, stream=False))
        raw = await self._post(body)
        with map_aiohttp_errors(self._name):  # an undecodable body is a ProtocolError
            completion = wire.completion_decoder.decode(raw)
        if not completion.choices:
            raise ProtocolError(f"{self._name} answered without choices", provider=self._name)
        choice = completion.choices[0]
        if completion.usage is None:
            raise ProtocolError(f"{self._name} answered without usage", provider=self._name)
        return LLMResponse(
            text=choice.message.content or "",
            model=completion.model or request.model,
            usage=completion.usage.to_usage(),
            provider=self._name,
            finish_reason=choice.finish_reason,
        )

    async def _generate_body(self, request: LLMRequest, body: dict[str, Any]) -> LLMResponse:
        raw = await self._post(_wire_body(request, body, stream=False))
        try:
            completion = msgspec.json.decode(raw)
        except msgspec.DecodeError as exc:
            raise ProtocolError(
                f"{self._name} answered with invalid JSON", provider=self._name
            ) from exc
        if not isinstance(completion, dict) or not isinstance(completion.get("choices"), list):
            raise ProtocolError(f"{self._name} answered without choices", provider=self._name)
        usage = completion.get("usage")
        if not isinstance(usage, dict):
            raise ProtocolError(f"{self._name} answered without usage", provider=self._name)
        first = completion["choices"][0] if completion["choices"] else {}
        message = first.get("message") or {}
        content = message.get("content")
        return LLMResponse(
            text=content if isinstance(content, str) else "",
            model=str(completion.get("model") or request.model),
            usage=wire.usage_from_dict(usage),
            provider=self._name,
            finish_reason=first.get("finish_reason"),
            completion=completion,
        )

    async def stream(self, request: LLMRequest) -> AsyncGenerator[StreamChunk, None]:
        """Yield text chunks, then one chunk carrying usage.

        A stream is judged by what the provider sent: one that ends without ``[DONE]`` is
        complete when every choice had its ``finish_reason`` and the usage chunk arrived
        (the gateway always asks for it), and otherwise raises `UpstreamError` (cut). A data
        line that is not a JSON object is skipped and counted in ``skipped_chunks``; an
        object of the wrong shape raises `ProtocolError`. A stream silent for longer than
        ``idle_timeout_s`` raises `UpstreamTimeout`. Closing the iterator early closes the
        upstream connection.
        """
        request = as_chat_request(request, provider=self._name)
        if request.body is not None:
            body = _wire_body(request, request.body, stream=True)
            read = self._relay_stream
        else:
            body = wire.encoder.encode(_to_wire(request, stream=True))
            read = self._read_stream
        chunks = post_stream(
            self._session,
            self._url,
            body=body,
            headers=self._headers,
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

    async def _read_stream(
        self, events: AsyncIterator[SSEEvent], request: LLMRequest
    ) -> AsyncGenerator[StreamChunk, None]:
        model = request.model
        usage: Usage | None = None
        produced: list[str] = []
        ends = _ChoiceEnds()
        skipped = SkippedChunks(self._name, self._count_skipped)
        async for event in events:
            if event.data == _DONE:
                break
            chunk = skipped.typed_or_none(wire.chunk_decoder, event.data)
            if chunk is None:
                continue
            if chunk.error is not None:
                code = chunk.error.code if isinstance(chunk.error.code, str) else None
                raise error_for_status(500, chunk.error.message, provider=self._name, code=code)
            model = chunk.model or model
            if chunk.usage is not None:
                usage = chunk.usage.to_usage()
            for choice in chunk.choices:
                ends.see(choice.index, choice.finish_reason)
            for choice in chunk.choices[:1]:
                text = choice.delta.content or ""
                if text or choice.finish_reason:
                    produced.append(text)
                    yield StreamChunk(text=text, model=model, finish_reason=choice.finish_reason)
        else:
            if not (ends.all_finished and usage is not None):
                raise self._cut()
        if usage is None:
            # An OpenAI-compatible server that ignores stream_options: count it ourselves.
            usage = _estimate_usage(request, "".join(produced))
        yield StreamChunk(model=model, usage=usage)

    async def _relay_stream(
        self, events: AsyncIterator[SSEEvent], request: LLMRequest
    ) -> AsyncGenerator[StreamChunk, None]:
        # Every data line is passed on whole (``raw`` for relaying, ``payload`` for the
        # gateway's own bookkeeping); text, finish reason and usage are read on the side.
        model = request.model
        usage: Usage | None = None
        produced: list[str] = []
        ends = _ChoiceEnds()
        skipped = SkippedChunks(self._name, self._count_skipped)
        # A chunk whose network read goes on waits for the next event (already decoded, so
        # no delay): if that one is skipped and ends the read, the chunk must say so itself.
        held: StreamChunk | None = None
        async for event in events:
            if event.data == _DONE:
                break
            payload = skipped.object_or_none(event.data)
            if payload is None:
                if held is not None and not event.more:
                    yield msgspec.structs.replace(held, more=False)
                    held = None
                continue
            if held is not None:
                yield held
                held = None
            error = payload.get("error")
            if isinstance(error, dict):
                code = error.get("code")
                raise error_for_status(
                    500,
                    str(error.get("message") or ""),
                    provider=self._name,
                    code=code if isinstance(code, str) else None,
                )
            model = payload.get("model") or model
            text, finish_reason = wire.first_choice_delta(payload)
            ends.see_all(payload)
            chunk_usage = payload.get("usage")
            if isinstance(chunk_usage, dict):
                usage = wire.usage_from_dict(chunk_usage)
            if text:
                produced.append(text)
            chunk = StreamChunk(
                text=text,
                model=model,
                usage=usage if isinstance(chunk_usage, dict) else None,
                finish_reason=finish_reason,
                payload=payload,
                raw=event.data.encode(),
                more=event.more,
            )
            if event.more:
                held = chunk
            else:
                yield chunk
        else:
            if not (ends.all_finished and usage is not None):
                raise self._cut()
        if held is not None:
            yield held  # [DONE] followed in the same read
        if usage is None:
            # An OpenAI-compatible server that ignores stream_options: count it ourselves.
            yield StreamChunk(model=model, usage=_estimate_usage(request, "".join(produced)))

    def _cut(self) -> UpstreamError:
        return UpstreamError(f"{self._name} stream ended before [DONE]", provider=self._name)


class _ChoiceEnds:
    # Which choices have reported a finish_reason: the proof that a stream ending without
    # [DONE] had in fact finished, rather than being cut mid-answer.

    def __init__(self) -> None:
        self._open: set[int] = set()
        self._finished: set[int] = set()

    @property
    def all_finished(self) -> bool:
        return bool(self._finished) and not self._open

    def see(self, index: int, finish_reason: str | None) -> None:
        if finish_reason:
            self._finished.add(index)
            self._open.discard(index)
        elif index not in self._finished:
            self._open.add(index)

    def see_all(self, payload: dict[str, Any]) -> None:
        choices = payload.get("choices")
        for choice in choices if isinstance(choices, list) else ():
            if isinstance(choice, dict):
                index = choice.get("index", 0)
                reason = choice.get("finish_reason")
                self.see(
                    index if isinstance(index, int) else 0,
                    reason if isinstance(reason, str) else None,
                )


def _wire_body(request: LLMRequest, body: dict[str, Any], *, stream: bool) -> bytes:
    """The bytes to send for a caller's ``body``: untouched when possible.

    Only two things may differ from what the caller sent: the model (when the router or the
    registry chose another name) and, on streams, ``stream_options.include_usage``, which
    the gateway needs to bill exactly (the usage chunk is not relayed to a caller who did
    not ask for it).
    """
    needs_usage = stream and not _asks_usage(body)
    if request.raw is not None and body.get("model") == request.model and not needs_usage:
        return request.raw
    out = dict(body)
    out["model"] = request.model
    if needs_usage:
        options = out.get("stream_options")
        out["stream_options"] = {
            **(options if isinstance(options, dict) else {}),
            "include_usage": True,
        }
    return msgspec.json.encode(out)


def _asks_usage(body: dict[str, Any]) -> bool:
    options = body.get("stream_options")
    return isinstance(options, dict) and options.get("include_usage") is True


def _to_wire(request: LLMRequest, *, stream: bool) -> wire.ChatCompletionRequest:
    messages = [wire.WireMessage(role="system", content=request.system)] if request.system else []
    # Our Message has no tool_call_id, which OpenAI requires for role "tool": send as user text.
    messages += [
        wire.WireMessage(role="user" if m.role == "tool" else m.role, content=m.content)
        for m in request.messages
    ]
    return wire.ChatCompletionRequest(
        model=request.model,
        messages=messages,
        temperature=request.temperature,
        max_tokens=request.max_tokens,
        user=request.user,
        stream=stream,
        stream_options=wire.StreamOptions(include_usage=True) if stream else None,
    )


def _estimate_usage(request: LLMRequest, text: str) -> Usage:
    return Usage(
        prompt=count_message_tokens(request.messages, request.model, system=request.system),
        completion=count_text_tokens(text, request.model),
        estimated=True,
    )
