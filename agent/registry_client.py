"""`RegistryClient`: sends each request to the provider the model registry names for it."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping

import msgspec

from agent.base import LLMClient
from agent.errors import ModelNotFound
from agent.registry import ModelRegistry, ResolvedModel
from agent.types import LLMRequest, LLMResponse, StreamChunk


class RegistryClient:
    """An `LLMClient` over one client per provider, chosen by resolving ``request.model``.

    The request reaches the provider with the model's ``upstream_name``; responses keep the
    model name the provider reported. ``clients`` maps every provider name of ``registry`` to
    its client (`ValueError` at construction when one is missing).
    """

    def __init__(
        self,
        registry: ModelRegistry,
        clients: Mapping[str, LLMClient],
        *,
        name: str = "providers",
    ) -> None:
        missing = [p.name for p in registry.providers() if p.name not in clients]
        if missing:
            raise ValueError(f"RegistryClient: no client for providers {missing}")
        self._registry = registry
        self._clients = dict(clients)
        self._name = name

    @property
    def name(self) -> str:
        return self._name

    @property
    def registry(self) -> ModelRegistry:
        """The registry requests are resolved through."""
        return self._registry

    def route(self, model: str) -> tuple[ResolvedModel, LLMClient]:
        """The resolved model and the client of its provider.

        Raises `InvalidModelName` or `ModelNotFound` as `ModelRegistry.resolve` does, and
        `ModelNotFound` for a model that is not a chat model.
        """
        resolved = self._registry.resolve(model)
        if resolved.spec.kind != "chat":
            raise ModelNotFound(
                f"model {model!r} is an {resolved.spec.kind} model, not a chat model",
                model=model,
            )
        return resolved, self._clients[resolved.provider.name]

    async def generate(self, request: LLMRequest) -> LLMResponse:
        """The provider's answer; raises `ModelNotFound`/`InvalidModelName` before any call,
        else what the provider client raises."""
        resolved, client = self.route(request.model)
        return await client.generate(_upstream(request, resolved))

    async def stream(self, request: LLMRequest) -> AsyncIterator[StreamChunk]:
        """The provider's chunks; raises as `generate` does."""
        resolved, client = self.route(request.model)
        async for chunk in client.stream(_upstream(request, resolved)):
            yield chunk


def _upstream(request: LLMRequest, resolved: ResolvedModel) -> LLMRequest:
    if resolved.upstream_name == request.model:
        return request
    return msgspec.structs.replace(request, model=resolved.upstream_name)
