"""The seams of the ``agent`` package: one small protocol each."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from typing import Protocol, runtime_checkable

import numpy as np
import numpy.typing as npt

from agent.types import LLMRequest, LLMResponse, StreamChunk


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


@runtime_checkable
class Embedder(Protocol):
    """Turns texts into L2-normalised float32 vectors."""

    @property
    def name(self) -> str:
        """Model label, part of every semantic-cache key so vectors of two models never mix."""
        ...

    @property
    def dim(self) -> int:
        """Length of each vector."""
        ...

    async def embed(self, texts: Sequence[str]) -> npt.NDArray[np.float32]:
        """Return a ``(len(texts), dim)`` matrix, row *i* for ``texts[i]``.

        Raises `agent.errors.EmbeddingError` (with the failed indexes) when it cannot.
        """
        ...
