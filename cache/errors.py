"""Exceptions raised by the ``cache`` package, and the root of the agent's error tree.

`AgentError` and `EmbeddingError` are defined here, in the lowest package, because the
`Embedder` seam (`cache.base`) is consumed by the semantic cache and the router, and budget
refusals (`metrics`) derive from `AgentError` too; `agent.errors` re-exports both.
"""

from __future__ import annotations


class CacheError(Exception):
    """Base of every error raised by the ``cache`` package."""

    code = "cache_error"


class StoreUnavailable(CacheError):
    """The backing store (Redis) could not be reached or answered too slowly.

    Callers on the request path catch this and serve without the cache (fail open).
    ``op`` names the Redis operation that failed (``unknown`` when none was given), for the
    per-operation error counts on ``/metrics``.
    """

    code = "store_unavailable"

    def __init__(self, message: str, *, op: str = "unknown") -> None:
        super().__init__(message)
        self.op = op


class AgentError(Exception):
    """Base of every error raised by the ``agent`` package, embedding and budget errors included."""

    code = "agent_error"


class EmbeddingError(AgentError):
    """Embedding failed; ``failed_indexes`` lists the inputs that got no vector. ``retryable``
    is False when trying again at once cannot help (the local model's process is down)."""

    code = "embedding_failed"

    def __init__(
        self, message: str, *, failed_indexes: list[int] | None = None, retryable: bool = True
    ) -> None:
        super().__init__(message)
        self.failed_indexes = failed_indexes or []
        self.retryable = retryable
