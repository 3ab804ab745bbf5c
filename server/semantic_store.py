"""Which backend the semantic cache keeps its vectors in (``[cache] semantic_backend``).

``memory`` is the in-process index (each replica its own, mirrored through Redis by
`cache.semantic_replication` when a Redis is configured); ``redis`` is one vector index in
Redis's Query Engine that every replica searches (`cache.semantic_redis`); ``auto`` (the
default) picks ``redis`` when the configured Redis answers ``FT._LIST``, else ``memory``.
"""

from __future__ import annotations

import logging

import redis.asyncio as redis

from cache.base import Embedder
from cache.errors import StoreUnavailable
from cache.semantic_redis import RedisVectorBackend, has_query_engine
from server.settings import Settings

_log = logging.getLogger(__name__)


async def open_vector_backend(
    settings: Settings, embedder: Embedder, client: redis.Redis | None
) -> RedisVectorBackend | None:
    """The Redis vector backend when the settings ask for it (or ``auto`` finds the Query
    Engine); None for the in-process index. Raises RuntimeError when ``redis`` is asked for
    and cannot be had: a silent fall back would split the replicas' caches."""
    wanted = settings.cache.semantic_backend
    if wanted == "memory":
        return None
    if client is None:
        if wanted == "redis":
            raise RuntimeError("cache.semantic_backend = redis needs redis.url")
        return None
    try:
        available = await has_query_engine(client, timeout_s=max(settings.redis.timeout_s, 1.0))
    except StoreUnavailable as exc:
        if wanted == "redis":
            raise RuntimeError(f"cache.semantic_backend = redis: {exc}") from exc
        _log.warning("semantic cache: Redis not reachable at start (%s); using memory", exc)
        return None
    if not available:
        if wanted == "redis":
            raise RuntimeError(
                "cache.semantic_backend = redis: this Redis has no Query Engine (FT.* commands);"
                " use Redis 8, Redis Stack, or load the search module"
            )
        return None
    backend = RedisVectorBackend(
        client,
        dim=embedder.dim,
        embedder=embedder.name,
        namespace=settings.redis.key_prefix,
        op_timeout_s=settings.redis.timeout_s,
        vector_type="FLOAT16"
        if settings.cache.semantic_redis_vector_type == "float16"
        else "FLOAT32",
    )
    try:
        await backend.ensure_index()
    except StoreUnavailable as exc:
        raise RuntimeError(f"semantic cache: cannot create the vector index: {exc}") from exc
    _log.info("semantic cache: shared vector index %s in Redis", backend.index_name)
    return backend
