"""The seams of the ``agent`` package: one small protocol each.

`Embedder` is defined in `cache.base` (the semantic cache and the router consume it too) and
re-exported here.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Protocol, runtime_checkable

from agent.types import LLMRequest, LLMResponse, StreamChunk
from cache.base import Embedder

__all__ = ["Embedder", "LLMClient"]


@runtime_checkable
class LLMClient(Protocol):
    """Something that answers chat requests: a provider, the simulator, or a wrapper."""

    @property
    def name(self) -> str:
        """Short provider label used in logs, metrics and errors (``openai``, ``anthropic``...)."""
        ...

    async def generate(self, request: LLMRequest) -> LLMResponse:
        """Return the whole answer.

        Raises a `agent.errors.ProviderError` subclass on any failure; never returns partial text.
        """
        ...

    def stream(self, request: LLMRequest) -> AsyncIterator[StreamChunk]:
        """Yield chunks as the provider produces them, ending with a chunk carrying usage.

        Raises a `ProviderError` subclass from the iterator when the call fails; closing the
        iterator early (client went away) closes the upstream connection.
        """
        ...
