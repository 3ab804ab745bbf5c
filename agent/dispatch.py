"""Sends each request to the provider that serves its model (claude-* to Anthropic, ...)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence

from agent.base import LLMClient
from agent.errors import BadRequest
from agent.types import LLMRequest, LLMResponse, StreamChunk


class ModelDispatchClient:
    """An `LLMClient` that picks a provider client by model-name prefix.

    ``routes`` is an ordered list of ``(prefix, client)``; the first matching prefix wins and
    an empty prefix matches everything (put it last as the default).
    """

    def __init__(self, routes: Sequence[tuple[str, LLMClient]], *, name: str = "dispatch"):
        if not routes:
            raise ValueError("ModelDispatchClient needs at least one route")
        self._routes = list(routes)
        self._name = name

    @property
    def name(self) -> str:
        return self._name

    def client_for(self, model: str) -> LLMClient:
        """The client serving ``model``; raises `BadRequest` when no prefix matches."""
        lowered = model.lower()
        for prefix, client in self._routes:
            if lowered.startswith(prefix):
                return client
        raise BadRequest(f"no configured provider serves model {model!r}", provider=self._name)

    async def generate(self, request: LLMRequest) -> LLMResponse:
        return await self.client_for(request.model).generate(request)

    async def stream(self, request: LLMRequest) -> AsyncIterator[StreamChunk]:
        async for chunk in self.client_for(request.model).stream(request):
            yield chunk
