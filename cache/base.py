"""The seams the caches sit on: a key/value store with per-key TTLs (in memory or in Redis)
and the `Embedder` that turns texts into vectors for the semantic cache (and the router)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, runtime_checkable

import numpy as np
import numpy.typing as npt


@runtime_checkable
class TTLStore(Protocol):
    """Bytes values under string keys, each with its own time to live (seconds).

    Implementations: `cache.memory.MemoryTTLStore`, `cache.redis_store.RedisTTLStore`.
    A ``ttl`` of ``None`` means no expiry. Backend failures raise `cache.errors.StoreUnavailable`.
    """

    async def get(self, key: str) -> bytes | None:
        """Return the value, or ``None`` when the key is missing or expired."""
        ...

    async def set(
        self, key: str, value: bytes, ttl: float | None, *, tags: Sequence[str] = ()
    ) -> None:
        """Store ``value``; ``tags`` let `delete_tag` drop every key written with that tag."""
        ...

    async def delete(self, key: str) -> bool:
        """Delete one key; return whether it existed."""
        ...

    async def delete_many(self, keys: Sequence[str]) -> int:
        """Delete the keys; return how many existed."""
        ...

    async def delete_tag(self, tag: str) -> int:
        """Delete every live key stored with ``tag``; return how many were deleted."""
        ...

    async def incr_by(self, key: str, amount: int, ttl: float | None) -> int:
        """Atomically add ``amount`` to an integer counter and return the new value.

        A missing key starts at 0; ``ttl`` is applied when the key is created, not on later
        increments, so a window counter expires at the end of its window.
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

        Raises `cache.errors.EmbeddingError` (with the failed indexes) when it cannot.
        """
        ...


class PairJudge(Protocol):
    """Reads two questions together (a cross-encoder) and says how likely an answer to the
    second also answers the first: the semantic cache's last check on a candidate."""

    @property
    def name(self) -> str: ...

    async def probabilities(self, pairs: Sequence[tuple[str, str]]) -> list[float | None]:
        """For each ``(new question, cached question)``, a probability in [0, 1], or None
        where the judge cannot read the pair (it abstains: threshold and guards decide alone).
        Raises `cache.errors.EmbeddingError` when the model fails (the lookup is then a miss)."""
        ...
