"""`TracedClient`: one provider client whose every call is an upstream-attempt span.

It wraps each provider's client below the fallback client, so every attempt (a retry, a
fallback to the next model, a continued stream) is its own span under the request's ``llm``
span, with the GenAI semantic-convention attributes, and the provider request carries a
``traceparent`` naming that attempt (`agent.http` adds it from the current span).
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterator

import anyio

from agent.base import LLMClient
from agent.tracing import AttributeValue, Span, open_span, span, use
from agent.types import LLMRequest, LLMResponse, StreamChunk, Usage

# Closing the provider stream must finish even when the caller is cancelled.
_CLOSE_GRACE_S = 5.0


class TracedClient:
    """An `LLMClient` over ``client`` that traces each call as one ``chat {model}`` span;
    ``system`` is the provider kind for ``gen_ai.system`` (``openai``, ``anthropic``...).
    The server wraps clients only when tracing is on."""

    def __init__(self, client: LLMClient, *, system: str) -> None:
        self._client = client
        self._system = system

    @property
    def name(self) -> str:
        return self._client.name

    async def generate(self, request: LLMRequest) -> LLMResponse:
        """The wrapped client's answer, its attempt traced."""
        with span(f"chat {request.model}", self._attributes(request), client=True) as s:
            response = await self._client.generate(request)
            _answered(s, response.model, response.usage, response.finish_reason)
            return response

    async def stream(self, request: LLMRequest) -> AsyncGenerator[StreamChunk, None]:
        """The wrapped client's chunks; the attempt span covers the whole stream."""
        name = f"chat {request.model}"
        with open_span(name, self._attributes(request), client=True) as s:
            chunks: AsyncIterator[StreamChunk] = aiter(self._client.stream(request))
            model, usage, finish = request.model, None, None
            try:
                while True:
                    with use(s):  # current only while the provider's stream runs a step
                        chunk = await anext(chunks, None)
                    if chunk is None:
                        break
                    model = chunk.model or model
                    usage = chunk.usage or usage
                    finish = chunk.finish_reason or finish
                    yield chunk
            finally:
                aclose = getattr(chunks, "aclose", None)
                if aclose is not None:
                    with use(s), anyio.move_on_after(_CLOSE_GRACE_S, shield=True):
                        await aclose()
            _answered(s, model, usage, finish)

    def _attributes(self, request: LLMRequest) -> dict[str, AttributeValue]:
        return {
            "gen_ai.operation.name": "chat",
            "gen_ai.system": self._system,
            "gen_ai.request.model": request.model,
            "frugal.provider": self._client.name,
        }


def _answered(s: Span, model: str, usage: Usage | None, finish: str | None) -> None:
    s.set_attribute("gen_ai.response.model", model)
    if usage is not None:
        s.set_attribute("gen_ai.usage.input_tokens", usage.prompt)
        s.set_attribute("gen_ai.usage.output_tokens", usage.completion)
    if finish:
        s.set_attribute("frugal.finish_reason", finish)
