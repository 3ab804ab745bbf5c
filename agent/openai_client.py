"""`OpenAIClient`: the `LLMClient` for OpenAI's Chat Completions API (and compatible servers)."""

from __future__ import annotations

from collections.abc import AsyncGenerator, Mapping
from contextlib import aclosing

import aiohttp

from agent import openai_wire as wire
from agent.errors import ProtocolError, UpstreamError
from agent.http import (
    error_for_status,
    iter_sse_events,
    json_timeout,
    map_aiohttp_errors,
    post_stream,
    raise_for_status,
)
from agent.tokens import count_message_tokens, count_text_tokens
from agent.types import LLMRequest, LLMResponse, StreamChunk, Usage

_DONE = "[DONE]"


class OpenAIClient:
    """Chat completions over a shared aiohttp session.

    ``base_url`` includes the API version, as in the OpenAI SDK: ``https://api.openai.com/v1``
    (requests go to ``{base_url}/chat/completions``). ``timeout_s`` bounds a whole JSON call and
    the gap between two reads of a stream. ``extra_headers`` are sent with every request.
    The session is borrowed: the client never closes it.
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
    ) -> None:
        self._session = session
        self._url = base_url.rstrip("/") + "/chat/completions"
        self._timeout_s = timeout_s
        self._name = name
        self._headers = {
            "authorization": f"Bearer {api_key}",
            "content-type": "application/json",
            **(extra_headers or {}),
        }

    @property
    def name(self) -> str:
        return self._name

    async def generate(self, request: LLMRequest) -> LLMResponse:
        """Return the whole answer; raises a `ProviderError` subclass on any failure."""
        body = wire.encoder.encode(_to_wire(request, stream=False))
        with map_aiohttp_errors(self._name):
            async with self._session.post(
                self._url,
                data=body,
                headers=self._headers,
                timeout=json_timeout(self._session, self._timeout_s),
            ) as response:
                await raise_for_status(response, provider=self._name)
                completion = wire.completion_decoder.decode(await response.read())
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

    async def stream(self, request: LLMRequest) -> AsyncGenerator[StreamChunk, None]:
        """Yield text chunks, then one chunk carrying usage.

        A stream that ends before ``[DONE]`` raises `UpstreamError`; an undecodable data line
        raises `ProtocolError`. Closing the iterator early closes the upstream connection.
        """
        body = wire.encoder.encode(_to_wire(request, stream=True))
        chunks = post_stream(
            self._session,
            self._url,
            body=body,
            headers=self._headers,
            timeout_s=self._timeout_s,
            provider=self._name,
            read=lambda response: self._read_stream(response, request),
        )
        async with aclosing(chunks):
            async for chunk in chunks:
                yield chunk

    async def _read_stream(
        self, response: aiohttp.ClientResponse, request: LLMRequest
    ) -> AsyncGenerator[StreamChunk, None]:
        model = request.model
        usage: Usage | None = None
        produced: list[str] = []
        async with aclosing(iter_sse_events(response, provider=self._name)) as events:
            async for event in events:
                if event.data == _DONE:
                    break
                chunk = wire.chunk_decoder.decode(event.data)
                if chunk.error is not None:
                    code = chunk.error.code if isinstance(chunk.error.code, str) else None
                    raise error_for_status(500, chunk.error.message, provider=self._name, code=code)
                model = chunk.model or model
                if chunk.usage is not None:
                    usage = chunk.usage.to_usage()
                for choice in chunk.choices[:1]:
                    text = choice.delta.content or ""
                    if text or choice.finish_reason:
                        produced.append(text)
                        yield StreamChunk(
                            text=text, model=model, finish_reason=choice.finish_reason
                        )
            else:
                raise UpstreamError(f"{self._name} stream ended before [DONE]", provider=self._name)
        if usage is None:
            # An OpenAI-compatible server that ignores stream_options: count it ourselves.
            usage = _estimate_usage(request, "".join(produced))
        yield StreamChunk(model=model, usage=usage)


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
